/* SPDX-License-Identifier: MIT */
/* Removing a tree moat made: an image, a shifted copy, a system-tier run directory. */
#pragma once

/* Remove path and everything under it, making directories that are not rwx for their owner
 * (overlayfs leaves work/work at mode 000; images are made read-only) so first. Symbolic links
 * are removed, never followed. 0 when path is gone (or was never there), else the first
 * -errno; what could be removed is removed either way. */
int rm_tree(const char *path);
