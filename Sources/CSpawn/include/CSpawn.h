#ifndef HTTPCHAT_CSPAWN_H
#define HTTPCHAT_CSPAWN_H
#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (NULL-terminated), in `directory`, as the leader of a new process
/// group, with `stdinFD`, `stdoutFD` and `stderrFD` as its standard streams, every other descriptor closed and
/// every signal at its default disposition and unblocked (the server ignores SIGINT and SIGQUIT for its
/// own signal handling; a script must not inherit that). Nothing runs in the child but the exec: posix_spawn, not fork.
///
/// Returns 0 and stores the child's pid, or an errno value.
int httpchat_spawn(const char *path, char *const argv[], char *const envp[], const char *directory,
                   int stdinFD, int stdoutFD, int stderrFD, pid_t *pid);

/// The number of CPUs this process may run on (its affinity mask, which taskset and container limits narrow),
/// or 0 when it cannot be read.
int httpchat_usable_cpus(void);

/// Asks the allocator to return to the system the memory freed in every arena (glibc's `malloc_trim(0)`);
/// elsewhere, does nothing. Blocks while it walks the arenas: call it off the event loops.
void httpchat_return_freed_memory(void);

#endif
