/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lsandbox.h: `mcsi --sandbox` (lsandbox.c), used by the mcsi program only.
 */
#ifndef LSANDBOX_H
#define LSANDBOX_H

#include "lua.h"
#include "lauxlib.h"

/* Adds a directory the sandbox may write in (its canonical path); -1 and errno. */
int lsandbox_allow(const char *dir);
/* Restricts the state's libraries (see lsandbox.c); call after luaL_openlibs
 * and require "mcsi", before any user code. Raises on out of memory. */
void lsandbox_apply(lua_State *L);
void lsandbox_free(void);
/* debug.sethook refused (a budget is in force), sandbox or not. */
void lsandbox_protect_hook(lua_State *L);

#endif
