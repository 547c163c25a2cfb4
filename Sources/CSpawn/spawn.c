// CGI scripts are started with posix_spawn. Foundation's Process would do, but it is the only reason the
// library would link Foundation (and ICU), several megabytes of resident memory in every server process.
#define _GNU_SOURCE
#include "CSpawn.h"
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>
#include <sched.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

int httpchat_spawn(const char *path, char *const argv[], char *const envp[], const char *directory,
                   int stdinFD, int stdoutFD, int stderrFD, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int error = posix_spawn_file_actions_init(&actions);
    if (error != 0) return error;
    error = posix_spawnattr_init(&attributes);
    if (error != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return error;
    }
    // The three descriptors are close-on-exec in the parent; dup2 gives the child copies without that flag.
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, stdinFD, 0);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, stderrFD, 2);
    short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#if defined(__APPLE__)
    flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;  // every descriptor not named by a file action is closed
    if (error == 0 && directory != NULL) error = posix_spawn_file_actions_addchdir_np(&actions, directory);
#elif defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    if (error == 0) error = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (error == 0 && directory != NULL) error = posix_spawn_file_actions_addchdir_np(&actions, directory);
#else
    if (error == 0) error = ENOSYS;  // no way to close the server's other descriptors in the child
#endif
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (error == 0) error = posix_spawnattr_setsigdefault(&attributes, &all);
    if (error == 0) error = posix_spawnattr_setsigmask(&attributes, &none);
    if (error == 0) error = posix_spawnattr_setpgroup(&attributes, 0);
    if (error == 0) error = posix_spawnattr_setflags(&attributes, flags);
    if (error == 0) error = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return error;
}

int httpchat_usable_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}

void httpchat_return_freed_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
