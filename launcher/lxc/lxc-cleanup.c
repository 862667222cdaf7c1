/* SPDX-License-Identifier: MIT */
/* lxc-cleanup.h: what a run leaves (cgroups, liblxc's run files, the run directory) and its
 * removal, by moat at the end of a run and by moat-system-run cleanup when moat was killed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/rm-tree.h"
#include "lxc-cleanup.h"

/* "." and ".." only: liblxc's attach makes a leaf cgroup named ".lxc" */
static bool dot_or_dotdot(const char *n) {
        return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

static void kill_tree(const char *dir) {
        char path[4096];
        DIR *d = opendir(dir);
        struct dirent *de;
        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        FILE *f = fopen(path, "re");
        if (f) {
                long pid;
                while (fscanf(f, "%ld", &pid) == 1)
                        (void) kill((pid_t) pid, SIGKILL);
                fclose(f);
        }
        while (d && (de = readdir(d)))
                if (de->d_type == DT_DIR && !dot_or_dotdot(de->d_name)) {
                        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                        kill_tree(path);
                }
        if (d)
                closedir(d);
}

static int rmdir_tree(const char *dir) {
        char path[4096];
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (de->d_type == DT_DIR && !dot_or_dotdot(de->d_name)) {
                        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                        (void) rmdir_tree(path);
                }
        if (d)
                closedir(d);
        return rmdir(dir) < 0 && errno != ENOENT ? -errno : 0;
}

/* The host's cgroup mounts, read once (mountinfo is some 40 lines; it was read again for every
 * hierarchy): "fstype mount-point options" per mount, cgroup and cgroup2 only. */
typedef struct CgroupMounts {
        char fstype[16][32], mnt[16][512], opts[16][256];
        int n;
} CgroupMounts;

static void cgroup_mounts_load(CgroupMounts *m) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[1024];
        m->n = 0;
        while (f && m->n < 16 && fgets(line, sizeof(line), f)) {
                char *sep = strstr(line, " - ");
                char mnt[512], fstype[32], src[64], opts[256];
                if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
                    sscanf(sep + 3, "%31s %63s %255s", fstype, src, opts) != 3 ||
                    (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0))
                        continue;
                snprintf(m->fstype[m->n], sizeof(m->fstype[0]), "%s", fstype);
                snprintf(m->mnt[m->n], sizeof(m->mnt[0]), "%s", mnt);
                snprintf(m->opts[m->n], sizeof(m->opts[0]), "%s", opts);
                m->n++;
        }
        if (f)
                fclose(f);
}

/* cgroup_mount() on the copy: the first mount of the hierarchy with ctrl ("" = v2). */
static int cgroup_mounts_find(const CgroupMounts *m, const char *ctrl, char *buf, size_t size) {
        for (int i = 0; i < m->n; i++) {
                bool match = false;
                if (!ctrl[0])
                        match = strcmp(m->fstype[i], "cgroup2") == 0;
                else if (strcmp(m->fstype[i], "cgroup") == 0) {
                        char opts[256], *save = NULL;
                        snprintf(opts, sizeof(opts), "%s", m->opts[i]);
                        for (char *t = strtok_r(opts, ",", &save); t && !match;
                             t = strtok_r(NULL, ",", &save))
                                match = strcmp(t, ctrl) == 0;
                }
                if (match) {
                        snprintf(buf, size, "%s", m->mnt[i]);
                        return 0;
                }
        }
        return -ENOENT;
}

void lxc_run_cgroups(const char *id, LxcRunCgroups *ret) {
        CgroupMounts mounts; /* 13 KiB: on the stack of whichever thread asks */
        cgroup_mounts_load(&mounts);
        FILE *f = fopen("/proc/self/cgroup", "re");
        char line[1024], mnt[512];
        ret->n = 0;
        while (f && ret->n < LXC_RUN_CGROUPS_MAX && fgets(line, sizeof(line), f)) {
                char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b)
                        continue;
                *b = '\0';
                b[1 + strcspn(b + 1, "\n")] = '\0';
                char ctrl[128];
                snprintf(ctrl, sizeof(ctrl), "%s", a + 1);
                char *comma = strchr(ctrl, ',');
                if (comma)
                        *comma = '\0';
                if (cgroup_mounts_find(&mounts, ctrl, mnt, sizeof(mnt)) < 0)
                        continue;
                if (snprintf(ret->dir[ret->n], sizeof(ret->dir[0]), "%s%s/moat-%s", mnt,
                             strcmp(b + 1, "/") == 0 ? "" : b + 1, id) < (int) sizeof(ret->dir[0]))
                        ret->n++;
        }
        ret->done = true;
        if (f)
                fclose(f);
}

/* Returns -EBUSY when one is left after ~2 s of killing and retrying. */
static int clean_cgroups(const LxcRunCgroups *cg) {
        for (int attempt = 0; attempt < 100; attempt++) {
                bool left = false;
                for (int i = 0; i < cg->n; i++) {
                        if (access(cg->dir[i], F_OK) < 0)
                                continue;
                        /* a cgroup with a process in it cannot be removed (EBUSY): after a
                         * normal end nothing is left and removing is all there is to do;
                         * otherwise kill what is there and remove what is left */
                        if (rmdir_tree(cg->dir[i]) == 0)
                                continue;
                        kill_tree(cg->dir[i]);
                        if (rmdir_tree(cg->dir[i]) < 0)
                                left = true;
                }
                if (!left)
                        return 0;
                usleep(20000); /* processes just killed leave their cgroups asynchronously */
        }
        return -EBUSY;
}

/* liblxc's per-container files under its run directory (liblxc's get_rundir(): /run when it is
 * this user's, else XDG_RUNTIME_DIR, which the runner sets to the run directory): its lock
 * directory and the monitor fifo's directory, each <rundir>/lxc[/lock]<lxcpath>. */
static bool lxc_rundir_is_run(void) {
        struct stat st;
        return stat("/run", &st) == 0 && (geteuid() == st.st_uid || getegid() == st.st_gid);
}

void lxc_run_path(const char *dir, bool lock, char *buf, size_t size) {
        if (lxc_rundir_is_run())
                snprintf(buf, size, "/run/lxc%s%s", lock ? "/lock" : "", dir);
        else
                snprintf(buf, size, "%s/lxc%s%s", dir, lock ? "/lock" : "", dir);
}

int lxc_run_cleanup(const char *id, const char *dir, LxcRunCgroups *cg) {
        LxcRunCgroups own;
        if (!cg || !cg->done)
                lxc_run_cgroups(id, cg = cg ? cg : &own);
        int r = clean_cgroups(cg);
        /* liblxc's files, when they are under /run (root's runs); otherwise they are in the run
         * directory, which goes whole below */
        bool in_run = lxc_rundir_is_run();
        for (int lock = 0; lock < 2 && in_run; lock++) {
                char path[4096];
                lxc_run_path(dir, lock, path, sizeof(path));
                int q = rm_tree(path);
                if (q < 0 && r == 0)
                        r = q;
        }
        int q = rm_tree(dir);
        return q < 0 && r == 0 ? q : r;
}
