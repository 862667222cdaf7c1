/* SPDX-License-Identifier: MIT */
/* PURE. network: outbound -> PlanEgress: the allowlist as the proxy will apply it, checked
 * against the site policy (which may only narrow), the proxy variables for the workload, the
 * Landlock connect rule (proxy mode), or, for via: transparent, what the host must have
 * (a usable /dev/net/tun, slirp4netns), and the controls that explain and the audit record list, one per
 * rule with the file:line:column it was written at. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/sha256.h"
#include "basic/strv.h"
#include "plan-internal.h"
#include "profile/egress.h"

#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)

static int refuse_rule(Plan *p, const EgressRule *r, const char *why, const char *remedy) {
        char where[300], f[EGRESS_RULE_FORMAT_MAX];

        plan_format_pos(&r->pos, where, sizeof(where));
        return plan_refuse(p, "network.outbound rule '%s'%s%s%s %s. To run it: %s",
                           egress_rule_format(r, f, sizeof(f)), where[0] ? " (" : "", where,
                           where[0] ? ")" : "", why, remedy);
}

/* The site policy narrows: no unrestricted rule unless it says so, every rule inside its
 * maximum allowlist, no forbidden port. */
static int check_site(Plan *p, const Profile *pr, const Policy *pol) {
        int r = 0;

        for (size_t i = 0; i < pr->outbound.n_allow && r >= 0; i++) {
                const EgressRule *rule = &pr->outbound.allow[i];
                bool covered = false;

                if (rule->kind == EGRESS_ANY && !(pol && pol->network.unrestricted)) {
                        r = refuse_rule(p, rule,
                                        "allows every destination, and the site policy does "
                                        "not allow unrestricted egress",
                                        "list the hosts the job needs, or have the site policy "
                                        "set network: {unrestricted: true}");
                        continue;
                }
                if (pol && pol->network.max_allow_set) {
                        for (size_t j = 0; j < pol->network.n_max_allow && !covered; j++)
                                covered = egress_rule_covers(&pol->network.max_allow[j], rule);
                        if (!covered) {
                                r = refuse_rule(p, rule,
                                                "is outside the site policy's network.max_allow",
                                                "use a destination and ports the site policy "
                                                "lists");
                                continue;
                        }
                }
                for (size_t j = 0; pol && j < pol->network.n_forbidden_ports && r >= 0; j++)
                        if (egress_rule_has_port(rule, pol->network.forbidden_ports[j])) {
                                char why[96];
                                snprintf(why, sizeof(why),
                                         "includes port %u, which the site policy forbids",
                                         pol->network.forbidden_ports[j]);
                                r = refuse_rule(p, rule, why, "drop that port from the rule");
                        }
        }
        return r;
}

static void digest_rules(PlanEgress *e) {
        Sha256 md;

        sha256_init(&md);
        for (size_t i = 0; i < e->n_allow; i++) {
                char f[EGRESS_RULE_FORMAT_MAX];
                egress_rule_format(&e->allow[i], f, sizeof(f));
                sha256_update(&md, f, strlen(f));
                sha256_update(&md, "\n", 1);
        }
        sha256_final(&md, e->digest);
}

/* Every tool reads a different spelling: curl takes only the lower-case http_proxy for http://,
 * Go and Python the upper case, npm its own. NO_PROXY keeps the loopback direct (it is the
 * sandbox's own). */
static int add_proxy_env(Plan *p) {
        static const char *const names[] = { "http_proxy",       "https_proxy",
                                             "HTTP_PROXY",       "HTTPS_PROXY",
                                             "npm_config_proxy", "npm_config_https_proxy" };
        char e[96];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(e, sizeof(e), "%s=http://127.0.0.1:%u", names[i], p->egress.proxy_port);
                if ((r = strv_extend(&p->env_set, e)) < 0)
                        return r;
        }
        if ((r = strv_extend(&p->env_set, "no_proxy=localhost,127.0.0.1,::1")) < 0)
                return r;
        return strv_extend(&p->env_set, "NO_PROXY=localhost,127.0.0.1,::1");
}

/* via: transparent (slirp4netns, nftables rules in the sandbox's netns, moat's DNS stub) needs
 * the host to let this caller open /dev/net/tun, slirp4netns and nft to be installed, and the sandbox
 * tier (the system and vm tiers serve the allowlist through the proxy only). The refusal names
 * what is missing and how to get it. 0 when the run can have it. */
static int check_transparent(Plan *p, const Profile *pr, const HostFacts *host) {
        char where[300], why[600] = "", remedy[400] = "";

        plan_format_pos(pr->outbound.via_pos.line ? &pr->outbound.via_pos : &pr->outbound.pos,
                        where, sizeof(where));
        if (!host || !host->tun_usable) {
                snprintf(why, sizeof(why),
                         "/dev/net/tun cannot be opened read-write by this user (slirp4netns "
                         "opens it with the caller's ids; without udev's rule the node is 0600, "
                         "root only)");
                snprintf(remedy, sizeof(remedy),
                         "have the host make /dev/net/tun 0666 (Debian's udev rule "
                         "KERNEL==\"tun\", MODE=\"0666\")");
        }
        if (!host || !host->slirp4netns_present) {
                snprintf(why + strlen(why), sizeof(why) - strlen(why),
                         "%sslirp4netns is not installed (/usr/bin or /usr/local/bin)",
                         why[0] ? "; " : "");
                snprintf(remedy + strlen(remedy), sizeof(remedy) - strlen(remedy),
                         "%sinstall slirp4netns (apt-get install slirp4netns)",
                         remedy[0] ? " and " : "");
        }
        if (!host || !host->nft_present) {
                snprintf(why + strlen(why), sizeof(why) - strlen(why),
                         "%snft is not installed (/usr/sbin, /sbin or /usr/bin)",
                         why[0] ? "; " : "");
                snprintf(remedy + strlen(remedy), sizeof(remedy) - strlen(remedy),
                         "%sinstall nftables (apt-get install nftables)", remedy[0] ? " and " : "");
        }
        /* A caller other than root: slirp4netns's --enable-sandbox joins the target's user
         * namespace and switches to uid 0 there, which a sandbox with a one-id map does not
         * have (it exits: setegid(0) EINVAL). moat confines it with Landlock instead, so that
         * needs the kernel's Landlock. */
        if (host && !host->is_root && host->landlock_abi < 1) {
                snprintf(why + strlen(why), sizeof(why) - strlen(why),
                         "%sfor a caller other than root moat confines slirp4netns with "
                         "Landlock, which this kernel does not have",
                         why[0] ? "; " : "");
                snprintf(remedy + strlen(remedy), sizeof(remedy) - strlen(remedy),
                         "%srun it as root or on a kernel with Landlock (lsm=landlock)",
                         remedy[0] ? " and " : "");
        }
        if (!why[0] && p->tier != TIER_SANDBOX)
                snprintf(why, sizeof(why),
                         "is given in the sandbox tier only, and this run needs "
                         "tier %s",
                         tier_to_string(p->tier));
        if (!why[0])
                return 0;
        return plan_refuse(p,
                           "network.outbound.via: transparent%s%s%s: %s. To run it: %s%suse "
                           "via: proxy (the default), which needs neither; tools that ignore the "
                           "proxy variables then reach nothing",
                           where[0] ? " (" : "", where, where[0] ? ")" : "", why, remedy,
                           remedy[0] ? ", or " : "");
}

int plan_build_network(Plan *p, const Profile *pr, const Policy *pol, const HostFacts *host) {
        PlanEgress *e = &p->egress;
        PlanLandlock *l = &p->sandbox.landlock;
        int r;

        if (pr->network != NETWORK_OUTBOUND)
                return 0;
        e->active = true;
        e->transparent = pr->outbound.via == OUTBOUND_VIA_TRANSPARENT;
        e->proxy_port = e->transparent ? 0 : PLAN_EGRESS_PROXY_PORT;
        e->allow = calloc(pr->outbound.n_allow + 1, sizeof(EgressRule));
        if (!e->allow)
                return -ENOMEM;
        memcpy(e->allow, pr->outbound.allow, pr->outbound.n_allow * sizeof(EgressRule));
        e->n_allow = pr->outbound.n_allow;
        digest_rules(e);
        if ((r = check_site(p, pr, pol)) < 0)
                return r;
        if (e->transparent) {
                if ((r = check_transparent(p, pr, host)) < 0)
                        return r;
                if (host && host->slirp4netns_present)
                        snprintf(e->slirp4netns, sizeof(e->slirp4netns), "%s",
                                 host->slirp4netns_path);
                if (host && host->nft_present)
                        snprintf(e->nft, sizeof(e->nft), "%s", host->nft_path);
                /* The highest ABI moat's Landlock code knows (6: signal and abstract-socket
                 * scopes) or the host's, if lower. */
                if (host && !host->is_root)
                        e->slirp_landlock = MIN(host->landlock_abi, 6);
                /* No proxy variables: tools connect directly, and the rules decide. No Landlock
                 * TCP rule either: it can name ports only, one per rule in this plan's form,
                 * and the nftables rules hold the ports and addresses. */
                return 0;
        }
        if ((r = add_proxy_env(p)) < 0)
                return r;
        /* Second layer, in the kernel: TCP connect to the proxy port only, no bind (in the system
         * tier the gate applies it to the command). Not in the vm tier: the guest kernel's
         * Landlock is ABI 2 (no TCP rules), and the guest has no network device to reach
         * anything else with (egress.port). */
        if (p->tier != TIER_VM && l->abi >= 4 && l->status != CONTROL_NOT_APPLICABLE) {
                l->handled_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
                l->connect_port = e->proxy_port;
        }
        return 0;
}

int plan_controls_network(Plan *p) {
        const PlanEgress *e = &p->egress;
        char hex[65];
        int r;

        if (!e->active)
                return 0;
        for (size_t i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", e->digest[i]);
        if (e->transparent) {
                if (e->slirp_landlock)
                        r = plan_add_controlf(
                                p, "egress.transparent", CONTROL_REQUIRED, NULL,
                                "%s on the sandbox's network namespace: --disable-host-loopback "
                                "(the host's loopback is not its gateway), --disable-dns (no "
                                "forwarder of its own), --enable-seccomp (its own system-call "
                                "filter), --exit-fd (ends with moat), never pasta; confined by "
                                "moat with Landlock ABI %d before exec (read and execute /usr, "
                                "read /etc/ld.so.cache, /dev/net/tun read-write, nothing else; "
                                "no TCP bind; no abstract sockets or signals outside) in place "
                                "of --enable-sandbox, which needs uid 0 in the sandbox's user "
                                "namespace; if it dies the sandbox has no route",
                                e->slirp4netns[0] ? e->slirp4netns : "slirp4netns",
                                e->slirp_landlock);
                else
                        r = plan_add_controlf(
                                p, "egress.transparent", CONTROL_REQUIRED, NULL,
                                "%s on the sandbox's network namespace: --disable-host-loopback "
                                "(the host's loopback is not its gateway), --disable-dns (no "
                                "forwarder of its own), --enable-sandbox --enable-seccomp (its "
                                "own mount namespace and system-call filter), --exit-fd (ends "
                                "with moat), never pasta; if it dies the sandbox has no route",
                                e->slirp4netns[0] ? e->slirp4netns : "slirp4netns");
                if (r >= 0)
                        r = plan_add_controlf(
                                p, "egress.rules", CONTROL_REQUIRED, NULL,
                                "nftables table inet moat in the sandbox's network namespace, "
                                "loaded by its root before capabilities drop, read back and "
                                "compared with the plan; %zu rules, sha256 %s; output policy "
                                "drop: TCP only to CIDR rules and to the DNS stub's pins on "
                                "their ports, all other traffic (UDP, ICMP) rejected; the "
                                "workload has no capability to list or change them",
                                e->n_allow, hex);
                if (r >= 0)
                        r = plan_add_controlf(
                                p, "egress.dns", CONTROL_REQUIRED, NULL,
                                "moat's DNS stub on the sandbox's 127.0.0.1:53 (every port-53 "
                                "query is redirected to it): names no rule allows get NXDOMAIN "
                                "and are never forwarded; answers in private, loopback, "
                                "link-local, metadata, ULA and CGNAT ranges refused unless a "
                                "CIDR rule lists them; each address pinned on its rule's ports "
                                "before the answer is returned; no TLS server-name check (an "
                                "allowed address serves every name it hosts)");
        } else
                r = plan_add_controlf(
                        p, "egress.proxy", CONTROL_REQUIRED, NULL,
                        "HTTP CONNECT proxy on 127.0.0.1:%u inside the sandbox, served by "
                        "moat; %zu rules, sha256 %s; TLS server name must match on 443; "
                        "answers in private, loopback, link-local, metadata, ULA and CGNAT "
                        "ranges refused unless a CIDR rule lists them; no UDP, no DNS; "
                        "tools that ignore the proxy variables reach nothing",
                        e->proxy_port, e->n_allow, hex);
        if (r >= 0 && p->tier == TIER_VM && !e->transparent)
                r = plan_add_controlf(p, "egress.port", CONTROL_REQUIRED, NULL,
                                      "the guest has no network device: moat-init forwards "
                                      "127.0.0.1:%u in the guest over the virtio-serial port "
                                      "org.moat.net to moat's proxy on the host, the only route "
                                      "out; no Landlock TCP rule (the guest kernel's Landlock has "
                                      "none)",
                                      e->proxy_port);
        if (r >= 0 && p->tier == TIER_SYSTEM) {
                const PlanLandlock *l = &p->sandbox.landlock;
                char ll[200];
                if (l->connect_port)
                        snprintf(ll, sizeof(ll),
                                 "Landlock (ABI %d) lets the command connect to TCP port %u only "
                                 "and bind none",
                                 l->abi, l->connect_port);
                else
                        snprintf(ll, sizeof(ll),
                                 "no Landlock TCP rule (%s); the namespace has no route out",
                                 l->status == CONTROL_NOT_APPLICABLE || l->abi <= 0
                                         ? "this host's kernel has no Landlock"
                                         : "the kernel's Landlock has no TCP rules before ABI 4");
                r = plan_add_controlf(p, "egress.namespace", CONTROL_REQUIRED, NULL,
                                      "the container's own network namespace with loopback only "
                                      "(lxc.net.0.type empty, no veth); moat makes the listener "
                                      "127.0.0.1:%u in it from the host before the command "
                                      "starts and its proxy holds it outside the container, so "
                                      "container root cannot change the proxy or its rules; %s",
                                      e->proxy_port, ll);
        }
        for (size_t i = 0; r >= 0 && i < e->n_allow; i++) {
                char f[EGRESS_RULE_FORMAT_MAX], where[300];
                plan_format_pos(&e->allow[i].pos, where, sizeof(where));
                r = plan_add_controlf(p, "egress.allow", CONTROL_REQUIRED, NULL, "%s%s%s%s",
                                      egress_rule_format(&e->allow[i], f, sizeof(f)),
                                      where[0] ? " (" : "", where, where[0] ? ")" : "");
        }
        return r;
}
