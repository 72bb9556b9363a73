/* SPDX-License-Identifier: Apache-2.0 */
/* Default paths and ranges (DESIGN.md); every one can be overridden. */
#ifndef SLUICE_DEFAULTS_H
#define SLUICE_DEFAULTS_H

#define SL_DEFAULT_BPFFS     "/sys/fs/bpf/sluice"
#define SL_DEFAULT_SOCKET    "/run/sluice/sluiced.sock"
#define SL_DEFAULT_STATE_DIR "/var/lib/sluice"
#define SL_DEFAULT_CONFLIST  "/etc/cni/net.d/10-sluice.conflist"
#define SL_DEFAULT_CLUSTER_CIDR "10.244.0.0/16"
#define SL_DEFAULT_SERVICE_CIDR "10.96.0.0/12"

#define SL_ENV_BPFFS  "SLUICE_BPFFS"
#define SL_ENV_SOCKET "SLUICE_SOCKET"

/* Upper bound of one JSON value on the socket (feed and requests). */
#define SL_MAX_VALUE_BYTES (16u << 20)

#endif
