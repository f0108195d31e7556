/*
 * kubelite pause: the process that holds a pod sandbox's namespaces.
 *
 * It runs as PID 1 of the pod's PID namespace, so orphaned processes are re-parented to it: it reaps
 * them on SIGCHLD so that no zombies pile up. SIGINT and SIGTERM end it cleanly (exit 0), which is how
 * the runtime stops a sandbox. Built statically at install time (setup.py) so the sandbox image needs
 * nothing else.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KUBELITE_PAUSE_VERSION "kubelite-pause 1.0"

static void on_terminate(int signo) {
    (void)signo;
    _exit(0);
}

static void on_child(int signo) {
    (void)signo;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts(KUBELITE_PAUSE_VERSION);
        return 0;
    }
    if (getpid() != 1) {
        fprintf(stderr, "kubelite pause: warning: not running as PID 1\n");
    }

    struct sigaction term = {0};
    term.sa_handler = on_terminate;
    sigemptyset(&term.sa_mask);
    if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0) {
        perror("kubelite pause: sigaction");
        return 1;
    }

    struct sigaction child = {0};
    child.sa_handler = on_child;
    sigemptyset(&child.sa_mask);
    child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &child, NULL) < 0) {
        perror("kubelite pause: sigaction");
        return 1;
    }

    for (;;) {
        pause();
    }
    return 42; /* unreachable */
}
