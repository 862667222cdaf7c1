#!/bin/bash
# Creates the unprivileged test user `moatuser` (with its own group and a home directory) if
# it does not exist yet, and prints its uid. Idempotent; needs root to create the user.
set -euo pipefail
user=moatuser
if ! id -u "$user" >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ]; then
                echo "setup-test-user.sh: $user does not exist and only root can create it" >&2
                exit 1
        fi
        # Two of these may race (parallel test runs): the loser's useradd fails with "already
        # exists", which is fine as long as the user is there afterwards.
        useradd -m -U -s /bin/bash -c "moat test user" "$user" 2>/dev/null || id -u "$user" >/dev/null
fi
id -u "$user"
