// SPDX-License-Identifier: Apache-2.0
/* cnictl: the operator's CLI. Everything lives in libcnictl.a so the unit
 * tests can drive the same code; see cnictl.h for adding commands. */
#include "cnictl.h"

int main(int argc, char **argv)
{
	return cnictl_main(argc, argv);
}
