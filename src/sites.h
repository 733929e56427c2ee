/* SPDX-License-Identifier: MIT */
/*
 * Inline call-site discovery: from each marker static_call() left in an
 * object's ustatic_sites table, decode forward to the calls and jumps that
 * reach this object's trampoline for the same key.
 */
#ifndef USTATIC_SITES_H
#define USTATIC_SITES_H

#include "object.h"

/* Fills o->sites and every trampoline's share of them (o->tramps read).
 * Registry lock held, o not yet published. 0 or -ENOMEM. */
int us_sites_discover(struct us_object *o, const void *sites_start,
		      const void *sites_stop);

#endif
