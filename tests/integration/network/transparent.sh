#!/bin/bash
# SPDX-License-Identifier: MIT
# network: {outbound: {via: transparent}}: what the host facts say and what the plan makes of
# them, for each test user (root and moatuser), judged against this host as probed here:
#   - `moat host --json` reports tun_usable (can this user open /dev/net/tun read-write) and
#     slirp4netns_present as the test finds them;
#   - where this user cannot open /dev/net/tun (moatuser on a host whose node is 0600), the run
#     is refused with 125 before anything starts, naming /dev/net/tun and the remedy; the same
#     for a host without slirp4netns; where the host has both, the refusal says transparent
#     mode is not available in this version (moat serves the allowlist through its proxy only);
#   - moat explain shows the same refusal with the file:line:column of `via`;
#   - the refused run starts no slirp4netns and no workload; it has its audit record;
#   - an unknown `via` is an error naming file:line:column.
# No network namespace or packet: nothing is set up when the plan refuses.
set -u
source "$(dirname "$0")/../sandbox/lib.sh"

PROFILE=$T/transparent.yaml
write_profile "$PROFILE" transparent \
        'network:' '  outbound:' '    via: transparent' '    allow:' '      - pkg.test:443'
slirp=
for p in /usr/bin/slirp4netns /usr/local/bin/slirp4netns; do [ -x "$p" ] && slirp=$p && break; done

for u in "${USERS[@]}"; do
        user_dir "$u" >/dev/null
        if as_user "$u" test -r /dev/net/tun -a -w /dev/net/tun; then tun=true; else tun=false; fi
        facts=$(as_user "$u" "$MOAT" host --json 2>/dev/null)
        check_all "$u: moat host --json: tun_usable is $tun, as this user finds /dev/net/tun" \
                '[ "$(jq -r .tun_usable <<<"$facts")" = $tun ]'
        check_all "$u: moat host --json: slirp4netns_present and its path as installed" \
                '[ "$(jq -r "[.slirp4netns_present, .slirp4netns_path] | @tsv" <<<"$facts")" = "$(printf "%s\t%s" "$([ -n "$slirp" ] && echo true || echo false)" "$slirp")" ]'
        rm -f "$T/$u/work/ran"
        out=$(moat_run "$u" "$PROFILE" sh -c 'touch /work/ran' 2>&1)
        rc=$?
        check_all "$u: via: transparent is refused with 125, naming the key's file:line:column" \
                '[ $rc -eq 125 ] && [[ "$out" == *"network.outbound.via: transparent ($PROFILE:6:10)"* ]]' ||
                diag "rc=$rc $out"
        if [ $tun = false ]; then
                check_all "$u: /dev/net/tun is not usable by this user: the refusal says so and how to fix it" \
                        '[[ "$out" == *"/dev/net/tun cannot be opened read-write by this user"* && "$out" == *"MODE=\"0666\""* && "$out" == *"use via: proxy"* ]]'
        else
                check_all "$u: /dev/net/tun is usable: the refusal does not blame it" \
                        '[[ "$out" != *"/dev/net/tun cannot be opened"* ]]'
        fi
        if [ -z "$slirp" ]; then
                check_all "$u: slirp4netns is not installed: the refusal says so and how to install it" \
                        '[[ "$out" == *"slirp4netns is not installed"* && "$out" == *"apt-get install slirp4netns"* ]]'
        elif [ $tun = true ]; then
                check_all "$u: the host has tun and slirp4netns: refused as not available in this version" \
                        '[[ "$out" == *"is not available in this version of moat"* && "$out" == *"$slirp"* ]]'
        else
                check_all "$u: slirp4netns is installed: the refusal does not ask for it" \
                        '[[ "$out" != *"slirp4netns is not installed"* ]]'
        fi
        check_all "$u: the refused run started no workload" '[ ! -e "$T/$u/work/ran" ]'
        check_all "$u: the refusal has its audit record" \
                '[[ "$(last_audit "$u" | jq -r ".error // .plan.refusal // empty")" == *"via: transparent"* ]]' ||
                diag "$(last_audit "$u" | jq -c "{error, exit_status}")"
        ex=$(as_user "$u" "$MOAT" explain -p "$PROFILE" 2>&1)
        check_all "$u: moat explain shows the same refusal" \
                '[[ "$ex" == *"network.outbound.via: transparent ($PROFILE:6:10)"* ]]' || diag "$ex"
done
check_all "no slirp4netns was started for the refused runs" '! pgrep -f "slirp4netns.*moat" >/dev/null'

BAD=$T/bad-via.yaml
write_profile "$BAD" badvia 'network:' '  outbound:' '    via: tunnel' '    allow: [pkg.test:443]'
out=$(moat_run "${USERS[0]}" "$BAD" true 2>&1)
rc=$?
check_all "an unknown via is an error naming file:line:column (125)" \
        '[ $rc -eq 125 ] && [[ "$out" == *"$BAD:6:10"* && "$out" == *"network.outbound.via"* ]]' ||
        diag "rc=$rc $out"
tap_end
