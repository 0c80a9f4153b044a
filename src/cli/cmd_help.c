/* SPDX-License-Identifier: MIT */
/*
 * cmd_help.c - `faultline help TOPIC`. The rules reference lists calls and families from the
 * FL_OPS table itself, so it cannot drift from what the preload wraps.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ctlblock.h"
#include "ops.h"

int fl_help_topic(const char *topic);

static const char rules_head[] =
    "RULES\n"
    "\n"
    "  WHERE[:KEY=VALUE]...      e.g.  io.write:path=*.json:errno=ENOSPC\n"
    "\n"
    "WHERE is a call or a family; commas join several (open,fopen or io.sync,io.meta).\n"
    "A family of io.* means fds that are not sockets; net.* means sockets (so net.recv also\n"
    "covers read() on a socket). Naming a single call means any fd; kind= overrides both.\n"
    "\n"
    "SELECTORS (which calls)\n"
    "  path=GLOB     the file's path; '*' crosses '/'. Without '/', the last component is\n"
    "                matched (*.db); with '/', the whole absolute path (*/state.json)\n"
    "  kind=K[,K]    fd kind: file, pipe, socket, other (ttys, devices), any\n"
    "  peer=ADDR     the socket's remote address: 127.0.0.1, 127.0.0.1:6379, [::1]:6379\n"
    "  port=N        the socket's local or remote port (connect: the port connected to)\n"
    "  host=GLOB     the name looked up (dns)\n"
    "  site=HEX      only calls made from one call site: the place in the program that\n"
    "                called (its return address, relative to its executable or library),\n"
    "                hashed to 8 hex digits, as 'faultline inject --surface' lists them.\n"
    "                Calls from other sites do not count for nth=, after= or count=:\n"
    "                write:path=*/state.json:site=1a2b3c4d:nth=3:errno=EIO fails the 3rd\n"
    "                write to state.json from that place. The hash is stable from run to\n"
    "                run of the same build; a rebuild moves it. With silent, a site= rule\n"
    "                takes effect at the receive, not at a poll before it\n"
    "  prob=P        fire with probability P (0.3 or 30%), drawn from the run's seed\n"
    "  nth=N         only the Nth matching call (with count=K: the Nth to the N+K-1th)\n"
    "  after=N       skip the first N matching calls\n"
    "  count=N       at most N faults from this rule\n"
    "  id=NAME       a name for 'faultline ctl PATH on|off NAME' (default: the number)\n"
    "\n"
    "EFFECTS (what happens; one failure, optionally after one wait)\n"
    "  errno=E       fail with errno E (ENOSPC, EIO, 28); stdio calls return their error\n"
    "                value and set the stream's error flag\n"
    "  delay=DUR     wait DUR (250ms, 2s), then make the call (or apply the other effect)\n"
    "  hang          block until the rule is switched off, then make the call\n"
    "  short=N|P%    pass only N bytes or P% of the request on: a short read or write\n"
    "  torn=N        write the first N bytes, then fail with EIO (or errno=)\n"
    "  drop          report success and do nothing: the lost write, the sync that wasn't\n"
    "  corrupt=N     flip N random bits in what was read\n"
    "  eai=E         getaddrinfo fails with E: EAI_AGAIN, EAI_NONAME, EAI_FAIL, ...\n"
    "  offset=+DUR   shift the wall clock (time, gettimeofday, CLOCK_REALTIME)\n"
    "  eof           a read or recv returns 0: the file ended, the peer closed (stdio: the\n"
    "                stream's end-of-file flag, not its error flag); that fd stays at its\n"
    "                end while the rule is on, as a closed connection does\n"
    "  silent        a peer that never answers (net.recv, net.connect): poll, select and\n"
    "                epoll never report the socket readable and return at their timeout; a\n"
    "                blocking recv waits for SO_RCVTIMEO, then EAGAIN (without one: until the\n"
    "                rule is off); a connect's SYN is never answered (non-blocking: never\n"
    "                writable; blocking: ETIMEDOUT after the kernel's SYN retries, EINPROGRESS\n"
    "                after SO_SNDTIMEO). Once silent, a connection stays so while the rule is on\n"
    "  signal=SIG[@after]  send SIG (SIGKILL, SIGTERM, 9) to the calling process just before\n"
    "                the call, or just after it returned; a handled signal lets it go on\n"
    "\n"
    "A call name covers its variants: open covers open64, __open_2 and __open64_2; fread\n"
    "covers fread_unlocked and __fread_chk. copy_file_range, sendfile and splice are io.write\n"
    "calls on their destination fd and io.read calls on their source fd (shown as NAME<in).\n"
    "fflush and fclose count, and fail, only when the stream holds unwritten data: that is\n"
    "when they write. A failed flush loses the data; a torn one writes its first bytes.\n"
    "\n"
    "When several rules match a call, they are tried in order; the first whose effect is a\n"
    "failure wins. A delay-, hang- or signal-only rule lets the call go on to later rules.\n"
    "io.lock counts only requests to take a lock (fcntl F_SETLK/F_SETLKW/F_OFD_*, flock,\n"
    "lockf): io.lock:errno=EAGAIN is a lock held by another process; unlocks pass.\n"
    "Effects narrow WHERE to the calls they make sense for (short applies to reads and\n"
    "writes that return a count); a rule that is left with no call is refused.\n"
    "\n"
    "EXAMPLES\n"
    "  write:path=*/state.json:errno=ENOSPC     io.sync:errno=EIO:nth=3\n"
    "  io.write:path=/data/*:short=50%           io.write:path=*.db:torn=512\n"
    "  io.write:path=*.json:drop                 io.read:path=*.conf:corrupt=3\n"
    "  net.connect:port=502:errno=ECONNREFUSED   net.recv:peer=127.0.0.1:6379:delay=2s\n"
    "  net.send:errno=ECONNRESET:prob=0.3        net.recv:hang\n"
    "  dns:eai=EAI_AGAIN                         mem:errno=ENOMEM:after=1000:count=1\n"
    "  time:offset=+3600s                        io.lock:path=*.db:errno=EAGAIN:count=3\n"
    "  net.recv:port=6379:silent                 write:path=*/state.json:signal=SIGKILL\n"
    "  fsync:path=*/state.json:site=1a2b3c4d:errno=EIO\n"
    "\n"
    "FAMILIES AND CALLS\n";

static const char rules_tail[] =
    "\n"
    "NOT REACHED\n"
    "  Statically linked programs and Go programs (raw system calls), writes through a shared\n"
    "  mmap, io_uring and io_submit, setuid programs (the loader ignores LD_PRELOAD), children\n"
    "  started with a cleared environment, and calls libc makes internally (getc_unlocked and\n"
    "  putc_unlocked macros, stdio's flush at exit). inject warns when CMD is static or Go.\n";

static void print_rules_help(void)
{
    fputs(rules_head, stdout);
    for (int f = 1; f < FL_FAM_COUNT; f++) {
        char line[4096];
        int n = snprintf(line, sizeof(line), "  %-12s", fl_family_names[f]);
        int col = n;
        for (int i = 0; i < FL_OP_COUNT; i++) {
            if ((int)fl_op_table[i].fam != f && (int)fl_op_table[i].fam2 != f)
                continue;
            char name[64];
            snprintf(name, sizeof(name), "%s", fl_op_table[i].name);
            size_t nl = strlen(name);
            if (nl > 4 && strcmp(name + nl - 4, "__in") == 0)
                memcpy(name + nl - 4, "<in", 4);
            int w = (int)strlen(name) + 1;
            if (col + w > 92) {
                n += snprintf(line + n, sizeof(line) - (size_t)n, "\n%14s", "");
                col = 14;
            }
            n += snprintf(line + n, sizeof(line) - (size_t)n, " %s", name);
            col += w;
        }
        puts(line);
    }
    printf("  io           all io.*          net           all net.*\n");
    printf("\nAt most %d rules per run.\n", FL_RULES_MAX);
    fputs(rules_tail, stdout);
}

int fl_help_topic(const char *topic)
{
    if (!strcmp(topic, "rules")) {
        print_rules_help();
        return 0;
    }
    char *argv[] = {(char *)topic, (char *)"--help", NULL};
    const struct fl_cmd *cmd = fl_find_cmd(topic);
    if (cmd && strcmp(topic, "help") != 0)
        return cmd->run(2, argv);
    return fl_usage_error("help: no topic '%s' (expected rules or a command: see 'faultline "
                          "help')", topic);
}
