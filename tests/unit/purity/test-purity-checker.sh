#!/bin/bash
# SPDX-License-Identifier: MIT
# Proves that check-purity.sh and forbidden-symbols.list catch what they claim to: each case
# builds a tiny archive that references one call and runs the real checker on it. If the
# checker or the list lost a pattern, the matching case here fails. TAP output.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CHECKER=${CHECKER:-$here/check-purity.sh}
LIST=${LIST:-$here/forbidden-symbols.list}
read -r -a cc <<<"${CC:-cc}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

# archive NAME C-SOURCE -> $tmp/NAME.a (one member)
archive() {
        local name=$1 src=$2
        printf '%s\n' "$src" >"$tmp/$name.c"
        "${cc[@]}" -w -fno-builtin -O1 -c "$tmp/$name.c" -o "$tmp/$name.o" 2>"$tmp/$name.cc.log" || {
                cat "$tmp/$name.cc.log" >&2
                return 1
        }
        rm -f "$tmp/$name.a"
        ar rcs "$tmp/$name.a" "$tmp/$name.o"
}

# expect_rc WANT DESCRIPTION NAME [CHECKER ARGS...]
expect_rc() {
        local want=$1 desc=$2 name=$3
        shift 3
        local out rc
        out=$("$CHECKER" "$@" 2>&1)
        rc=$?
        printf '%s\n' "$out" >"$tmp/$name.out"
        if ((rc == want)); then
                ok "$desc"
        else
                not_ok "$desc" "exit $rc, want $want" "$out"
        fi
}

# 1. A clean object passes: formatting into memory and reading is allowed.
archive clean '#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
int pure_fn(FILE *f, const char *s) { char b[64]; snprintf(b, sizeof b, "%s", s);
        int fd = open(s, O_RDONLY | O_CLOEXEC); fprintf(f, "%s %d", b, fd); return (int) strlen(strdup(b)); }' || exit 1
expect_rc 0 "clean archive passes" clean "$LIST" "$tmp/clean.a"

# 2. Every call the brief and STYLE.md name is caught, each in its own member.
calls=(mount umount umount2 unshare setns clone clone3 fork vfork capset prctl seccomp
       seccomp_load execve execvp execl execlp pivot_root chroot mkdir mkdirat unlink unlinkat
       rename renameat2 write pwrite64 writev kill ptrace syscall virDomainCreateXML
       virConnectOpen lxc_container_new landlock_create_ruleset landlock_restrict_self
       open_tree move_mount mount_setattr setresuid cap_set_proc dlsym socket ioctl)
# One compiler run for all of them: this test must stay fast on a loaded machine.
srcs=()
for c in "${calls[@]}"; do
        printf 'extern void %s(void);\nvoid pure_fn(void) { %s(); }\n' "$c" "$c" >"$tmp/call_$c.c"
        srcs+=("call_$c.c")
done
(cd "$tmp" && "${cc[@]}" -w -fno-builtin -O1 -c "${srcs[@]}") || exit 1
# All of them in one archive, one member each, checked in one run: every member must be
# reported on its own, so one pattern catching the lot cannot hide a missing one.
objs=()
for c in "${calls[@]}"; do
        objs+=("$tmp/call_$c.o")
done
ar rcs "$tmp/calls.a" "${objs[@]}"
out=$("$CHECKER" "$LIST" "$tmp/calls.a" 2>&1)
rc=$?
if ((rc == 1)); then
        ok "an archive of forbidden calls is refused"
else
        not_ok "an archive of forbidden calls is refused" "exit $rc, want 1" "$out"
fi
for c in "${calls[@]}"; do
        if grep -q "call_$c.o references '$c'" <<<"$out"; then
                ok "reference to $c is refused and named"
        else
                not_ok "reference to $c is refused and named" "$out"
        fi
done

# 3. Printing to the standard streams is caught through the stream symbol itself.
archive prints '#include <stdio.h>
void pure_fn(int x) { fprintf(stderr, "%d\n", x); }' || exit 1
expect_rc 1 "fprintf(stderr) is refused" prints "$LIST" "$tmp/prints.a"

# 4. Fortified and versioned spellings match the plain name.
archive fortified 'extern void __write_chk(void); extern void __mount(void);
void pure_fn(void) { __write_chk(); __mount(); }' || exit 1
expect_rc 1 "__write_chk and __mount are refused" fortified "$LIST" "$tmp/fortified.a"
if grep -q "__write_chk" "$tmp/fortified.out" && grep -q "__mount" "$tmp/fortified.out"; then
        ok "both fortified spellings are named"
else
        not_ok "both fortified spellings are named" "$(cat "$tmp/fortified.out")"
fi

# 5. A single bad member taints the whole archive.
archive bad_member 'extern void unshare(void); void other_fn(void) { unshare(); }' || exit 1
rm -f "$tmp/mixed.a"
ar rcs "$tmp/mixed.a" "$tmp/clean.o" "$tmp/bad_member.o"
expect_rc 1 "one forbidden member among clean ones is refused" mixed "$LIST" "$tmp/mixed.a"

# 6. The checker cannot pass vacuously.
archive empty 'extern int ext_value; int *pure_fn(void);' || exit 1
expect_rc 2 "an archive that defines nothing is an error, not a pass" empty "$LIST" "$tmp/empty.a"
printf '# only comments\n\n' >"$tmp/empty.list"
expect_rc 2 "a list without patterns is an error" emptylist "$tmp/empty.list" "$tmp/clean.a"
expect_rc 2 "a missing archive is an error" missing "$LIST" "$tmp/does-not-exist.a"

# 7. Globs in the list work as globs, and a pattern does not match a longer unrelated name.
printf 'landlock_*\nbind\n' >"$tmp/glob.list"
archive near_miss 'extern void binding_lookup(void); void pure_fn(void) { binding_lookup(); }' || exit 1
expect_rc 0 "'bind' does not match binding_lookup" near_miss "$tmp/glob.list" "$tmp/near_miss.a"
expect_rc 1 "'landlock_*' matches landlock_restrict_self" glob "$tmp/glob.list" "$tmp/call_landlock_restrict_self.o"

# 8. A name the archive defines itself is its own code: pure helpers may share a prefix with
#    a forbidden call (landlock_mode_to_string) without being one.
archive own_def 'const char *landlock_mode_to_string(int m) { return m ? "required" : "off"; }' || exit 1
archive own_use 'const char *landlock_mode_to_string(int m); const char *pure_fn(void) { return landlock_mode_to_string(1); }' || exit 1
rm -f "$tmp/own.a"
ar rcs "$tmp/own.a" "$tmp/own_def.o" "$tmp/own_use.o"
expect_rc 0 "a forbidden-looking name defined in the archive is not a call out" own "$tmp/glob.list" "$tmp/own.a"
expect_rc 1 "the same reference without the definition is refused" own_use_only "$tmp/glob.list" "$tmp/own_use.o"

echo "1..$n"
exit $failed
