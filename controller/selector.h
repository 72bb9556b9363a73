/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes label selectors (metav1.LabelSelector) evaluated against label
 * sets (selector.c, policy). Selectors are validated by the feed
 * (k8s_validate_label_selector) before they reach these functions. */
#ifndef SLUICE_SELECTOR_H
#define SLUICE_SELECTOR_H

#include <stdbool.h>
#include <jansson.h>

/* True when labels (an object of strings; NULL = no labels) satisfy sel:
 * every matchLabels pair and every matchExpressions requirement (In,
 * NotIn, Exists, DoesNotExist). An empty selector ({}) matches everything;
 * so does NULL (callers decide what an absent selector means). A
 * requirement with an unknown operator matches nothing (fail closed). */
bool selector_matches(const json_t *sel, const json_t *labels);

/* True when sel selects everything (NULL, {}, or no requirements). */
bool selector_is_empty(const json_t *sel);

#endif
