// SPDX-License-Identifier: Apache-2.0
/* The sandbox ("pause") process of the containerd runtime test. There is no
 * registry here, so the test builds its own pause image from this file,
 * linked statically so the image needs nothing but the binary.
 *
 * It runs as PID 1 of the sandbox: the kernel ignores every signal PID 1 has
 * no handler for, so SIGTERM/SIGINT must be caught explicitly or StopPodSandbox
 * would have to wait for its SIGKILL timeout. It also reaps children, as a
 * pause process must (containers sharing its PID namespace re-parent to it). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t pause_stop;

static void pause_on_stop(int sig)
{
	(void)sig;
	pause_stop = 1;
}

static void pause_on_child(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction stop = { .sa_handler = pause_on_stop };
	struct sigaction child = { .sa_handler = pause_on_child, .sa_flags = SA_NOCLDSTOP };

	if (sigaction(SIGTERM, &stop, NULL) || sigaction(SIGINT, &stop, NULL) ||
	    sigaction(SIGCHLD, &child, NULL)) {
		fprintf(stderr, "pause: couldn't install signal handlers: %s\n", strerror(errno));
		return 1;
	}
	while (!pause_stop)
		pause();
	return 0;
}
