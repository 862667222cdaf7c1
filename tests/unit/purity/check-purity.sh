#!/bin/bash
# SPDX-License-Identifier: MIT
# check-purity.sh LIST ARCHIVE...
# Fails (exit 1) when any ARCHIVE (or object) references an undefined symbol matching a
# pattern in LIST (fnmatch(3) globs, one per line, '#' comments). See forbidden-symbols.list
# for what is forbidden, why, and what nm cannot see.
set -uo pipefail

NM=${NM:-nm}

if (($# < 2)); then
        echo "usage: $0 LIST ARCHIVE..." >&2
        exit 2
fi
list=$1
shift

# Exact names are looked up in a table; only real globs are matched one by one.
patterns=()
globs=()
declare -A exact=()
while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        line=${line//[[:space:]]/}
        [[ -z $line ]] && continue
        patterns+=("$line")
        if [[ $line == *[\*\?\[]* ]]; then
                globs+=("$line")
        else
                exact[$line]=1
        fi
done <"$list"
if ((${#patterns[@]} == 0)); then
        echo "check-purity: $list holds no patterns" >&2
        exit 2
fi

# One name may hide another: glibc's fortified and internal spellings (__write_chk,
# __mount), and symbol versions (write@GLIBC_2.2.5). Yield the name and its plain form.
plain_names() {
        local s=${1%%@*}
        names=("$s")
        local p=$s
        while [[ $p == _* ]]; do p=${p#_}; done
        p=${p%_chk}
        [[ $p != "$s" && -n $p ]] && names+=("$p")
        return 0
}

status=0
for archive in "$@"; do
        if [[ ! -r $archive ]]; then
                echo "check-purity: cannot read $archive" >&2
                exit 2
        fi
        # A check over nothing proves nothing: the archive must define code.
        defined=$("$NM" --defined-only "$archive" 2>/dev/null | grep -c ' [TtDdBbRr] ')
        if ((defined == 0)); then
                echo "check-purity: $archive defines no symbols; refusing to call it pure" >&2
                exit 2
        fi
        # Names defined by some member are the library's own code, not calls out of it.
        declare -A own=()
        while read -r name; do
                own[$name]=1
        done < <("$NM" --defined-only "$archive" 2>/dev/null | awk 'NF == 3 { print $3 }')
        if ! undefined=$("$NM" -u -A "$archive"); then
                echo "check-purity: $NM failed on $archive" >&2
                exit 2
        fi
        n_undefined=0
        while IFS= read -r row; do
                [[ -z $row ]] && continue
                # "archive.a:member.o:                 U symbol"
                sym=${row##* }
                member=${row%%: *}
                member=${member##*/}
                [[ -n ${own[$sym]:-} ]] && continue
                n_undefined=$((n_undefined + 1))
                plain_names "$sym"
                for name in "${names[@]}"; do
                        if [[ -n ${exact[$name]:-} ]]; then
                                echo "FORBIDDEN: $member references '$sym' (matches '$name')"
                                status=1
                                break
                        fi
                        for pat in "${globs[@]}"; do
                                # shellcheck disable=SC2053 # $pat is a glob on purpose
                                if [[ $name == $pat ]]; then
                                        echo "FORBIDDEN: $member references '$sym' (matches '$pat')"
                                        status=1
                                        break 2
                                fi
                        done
                done
        done <<<"$undefined"
        unset own
        echo "check-purity: $archive: $defined defined, $n_undefined external references checked against ${#patterns[@]} patterns"
done

if ((status)); then
        echo "check-purity: the pure library references state-changing calls (above); move that code to launcher/sys/ or an executor" >&2
fi
exit $status
