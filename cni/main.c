// SPDX-License-Identifier: Apache-2.0
/* sluice: the CNI plugin. Everything is in libcni (cmd.c) so unit tests can
 * drive it; this is only the process entry point. */
#include <stdio.h>

#include "cni.h"

int main(void)
{
	return cni_run(stdin, stdout);
}
