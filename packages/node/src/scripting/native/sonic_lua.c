/*
 * Sonic's Lua 5.1 embedding: an N-API addon linking the system's PUC Lua 5.1 (the
 * version Redis runs), lua-cjson and LuaBitOp, plus our own cmsgpack and struct.
 *
 * One VM object per Lua state. The JavaScript side gives hooks: call(argv, resp) runs a
 * command and returns its reply bytes (RESP2 or RESP3 by the script's setresp), log,
 * setRepl, register (FUNCTION LOAD). Replies cross the boundary as RESP bytes, parsed
 * into Lua values here and produced from Lua values here, as Redis converts them.
 *
 * Scripts run in a coroutine with a count hook: past the busy threshold the hook yields
 * (only where Lua 5.1 allows it: no C call such as pcall in between), the JS side answers
 * other clients with BUSY and resumes the script on the next turn; SCRIPT KILL makes the
 * hook raise an error.
 */
#include <node_api.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <math.h>
#include <stdarg.h>

extern int luaopen_cjson(lua_State *);
extern int luaopen_bit(lua_State *);
int sonic_open_cmsgpack(lua_State *);
int sonic_open_struct(lua_State *);

#define CHECK(x) do { if ((x) != napi_ok) { napi_throw_error(env, NULL, "napi call failed: " #x); return NULL; } } while (0)

/* The first fields of Lua 5.1.5's struct lua_State (lstate.h), to read nCcalls and
 * baseCcalls: lua_yield fails when nCcalls > baseCcalls. A self-test at start-up checks
 * the layout against public accessors; yielding stays off if it does not match. */
struct mirror_State {
  void *next; unsigned char tt; unsigned char marked;
  unsigned char status;
  void *top, *base, *l_G, *ci; const void *savedpc;
  void *stack_last, *stack, *end_ci, *base_ci;
  int stacksize, size_ci;
  unsigned short nCcalls, baseCcalls;
  unsigned char hookmask, allowhook;
};
static int can_mirror = 0;

enum { H_CALL, H_LOG, H_SETREPL, H_REGISTER, H_COUNT };

typedef struct { char *p; size_t len, cap; } Buf;

typedef struct {
  lua_State *L;
  lua_State *co;       /* the running (or yielded) coroutine, or NULL */
  int co_ref;
  napi_env env;
  napi_ref hooks[H_COUNT];
  int resp;            /* setresp() of the running script */
  int caller_resp;
  int loading;         /* FUNCTION LOAD in progress: only register_function/log */
  int killed;
  int may_yield;
  double started_ms;
  double busy_ms;      /* yield past this (0: never) */
  int yielded;
  char label[96];      /* "script: <sha>" / function name for errors */
  Buf out;             /* the reply being built, kept between runs (no malloc per script) */
} VM;
static void buf_need(Buf *b, size_t n) {
  if (b->len + n <= b->cap) return;
  size_t c = b->cap ? b->cap * 2 : 256;
  while (c < b->len + n) c *= 2;
  b->p = realloc(b->p, c);
  b->cap = c;
}
static void buf_add(Buf *b, const char *s, size_t n) { buf_need(b, n); memcpy(b->p + b->len, s, n); b->len += n; }
static void buf_str(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }
/* `prefix`, the decimal digits of v, CRLF (":12\r\n", "*3\r\n" ...), without snprintf. */
static void buf_int(Buf *b, char prefix, long long v) {
  char t[32]; int i = sizeof t;
  t[--i] = '\n'; t[--i] = '\r';
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do { t[--i] = (char)('0' + u % 10); u /= 10; } while (u);
  if (v < 0) t[--i] = '-';
  t[--i] = prefix;
  buf_add(b, t + i, sizeof t - i);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static VM *vm_of(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "__sonic_vm");
  VM *vm = (VM *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return vm;
}

/* ------------------------------------------------------------------ RESP -> Lua */

static const char *resp_line(const char *p, const char *end, const char **eol) {
  const char *e = memchr(p, '\r', end - p);
  if (!e) e = end;
  *eol = e;
  return e + 2 <= end ? e + 2 : end;
}

static const char *push_resp(lua_State *L, const char *p, const char *end, int depth);

static const char *push_aggregate(lua_State *L, const char *p, const char *end, long long n, int depth) {
  lua_createtable(L, n > 0 && n < 1 << 20 ? (int)n : 0, 0);
  for (long long i = 1; i <= n && p < end; i++) {
    p = push_resp(L, p, end, depth + 1);
    lua_rawseti(L, -2, (int)i);
  }
  return p;
}

/* Pushes one reply as Lua value (Redis's conversion rules) and returns what follows it. */
static const char *push_resp(lua_State *L, const char *p, const char *end, int depth) {
  if (p >= end) { lua_pushnil(L); return p; }
  luaL_checkstack(L, 4, "reply too deep");
  const char *eol;
  char t = *p++;
  const char *next = resp_line(p, end, &eol);
  long long n;
  switch (t) {
    case '+':
      lua_newtable(L); lua_pushlstring(L, p, eol - p); lua_setfield(L, -2, "ok"); return next;
    case '-':
      lua_newtable(L); lua_pushlstring(L, p, eol - p); lua_setfield(L, -2, "err"); return next;
    case ':':
      lua_pushnumber(L, (lua_Number)strtoll(p, NULL, 10)); return next;
    case '$': case '!': case '=': {
      n = strtoll(p, NULL, 10);
      if (n < 0) { lua_pushboolean(L, 0); return next; }
      if (next + n > end) n = end - next;
      if (t == '$') lua_pushlstring(L, next, n);
      else if (t == '!') { lua_newtable(L); lua_pushlstring(L, next, n); lua_setfield(L, -2, "err"); }
      else {
        lua_newtable(L); lua_newtable(L);
        lua_pushlstring(L, next, n >= 3 ? 3 : n); lua_setfield(L, -2, "format");
        lua_pushlstring(L, next + (n >= 4 ? 4 : n), n >= 4 ? n - 4 : 0); lua_setfield(L, -2, "string");
        lua_setfield(L, -2, "verbatim_string");
      }
      const char *q = next + n;
      return q + 2 <= end ? q + 2 : end;
    }
    case '*':
      n = strtoll(p, NULL, 10);
      if (n < 0) { lua_pushboolean(L, 0); return next; }
      return push_aggregate(L, next, end, n, depth);
    case '_':
      lua_pushnil(L); return next;
    case '#':
      lua_pushboolean(L, *p == 't'); return next;
    case ',': {
      char tmp[64]; size_t l = eol - p < 63 ? eol - p : 63; memcpy(tmp, p, l); tmp[l] = 0;
      double d = strcmp(tmp, "inf") == 0 ? HUGE_VAL : strcmp(tmp, "-inf") == 0 ? -HUGE_VAL : strtod(tmp, NULL);
      lua_newtable(L); lua_pushnumber(L, d); lua_setfield(L, -2, "double"); return next;
    }
    case '(':
      lua_newtable(L); lua_pushlstring(L, p, eol - p); lua_setfield(L, -2, "big_number"); return next;
    case '%': {
      n = strtoll(p, NULL, 10);
      p = next;
      lua_newtable(L); lua_newtable(L);
      for (long long i = 0; i < n && p < end; i++) {
        p = push_resp(L, p, end, depth + 1);
        p = push_resp(L, p, end, depth + 1);
        if (lua_isnil(L, -2)) lua_pop(L, 2); else lua_settable(L, -3);
      }
      lua_setfield(L, -2, "map");
      return p;
    }
    case '~': {
      n = strtoll(p, NULL, 10);
      p = next;
      lua_newtable(L); lua_newtable(L);
      for (long long i = 0; i < n && p < end; i++) {
        p = push_resp(L, p, end, depth + 1);
        if (lua_isnil(L, -1)) lua_pop(L, 1); else { lua_pushboolean(L, 1); lua_settable(L, -3); }
      }
      lua_setfield(L, -2, "set");
      return p;
    }
    case '|': {
      n = strtoll(p, NULL, 10);
      p = next;
      for (long long i = 0; i < 2 * n && p < end; i++) { p = push_resp(L, p, end, depth + 1); lua_pop(L, 1); }
      return push_resp(L, p, end, depth);
    }
    case '>':
      n = strtoll(p, NULL, 10);
      return push_aggregate(L, next, end, n, depth);
    default:
      lua_pushnil(L); return end;
  }
}

/* ------------------------------------------------------------------ Lua -> RESP */

/* Raw field read: conversion runs outside protected mode, so no metamethods. */
static void rawfield(lua_State *L, int idx, const char *k) { lua_pushstring(L, k); lua_rawget(L, idx < 0 && idx > LUA_REGISTRYINDEX ? idx - 1 : idx); }

static void emit_null(Buf *b, int proto) { buf_str(b, proto == 3 ? "_\r\n" : "$-1\r\n"); }
static void emit_bulk(Buf *b, const char *s, size_t n) { buf_int(b, '$', (long long)n); buf_add(b, s, n); buf_str(b, "\r\n"); }
static void emit_line(Buf *b, char type, const char *s, size_t n) {
  buf_need(b, n + 3);
  b->p[b->len++] = type;
  for (size_t i = 0; i < n; i++) b->p[b->len++] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
  b->p[b->len++] = '\r'; b->p[b->len++] = '\n';
}
static void fmt_double(char *out, size_t cap, double d) {
  if (isinf(d)) snprintf(out, cap, "%s", d > 0 ? "inf" : "-inf");
  else if (isnan(d)) snprintf(out, cap, "nan");
  else snprintf(out, cap, "%.17g", d);
}

/* Pops nothing; converts the value at idx (absolute) to RESP for a caller of protocol `proto`. */
static void emit(VM *vm, lua_State *L, int idx, Buf *b, int proto, int depth) {
  if (depth > 1000 || !lua_checkstack(L, 4)) { buf_str(b, "-ERR reached lua stack limit\r\n"); return; }
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: { size_t n; const char *s = lua_tolstring(L, idx, &n); emit_bulk(b, s, n); return; }
    case LUA_TBOOLEAN:
      if (vm->resp == 2) { if (lua_toboolean(L, idx)) buf_str(b, ":1\r\n"); else emit_null(b, proto); }
      else if (proto == 3) buf_str(b, lua_toboolean(L, idx) ? "#t\r\n" : "#f\r\n");
      else buf_str(b, lua_toboolean(L, idx) ? ":1\r\n" : ":0\r\n");
      return;
    case LUA_TNUMBER: buf_int(b, ':', (long long)lua_tonumber(L, idx)); return;
    case LUA_TTABLE: {
      size_t n; const char *s;
      rawfield(L, idx, "err");
      if (lua_isstring(L, -1)) { s = lua_tolstring(L, -1, &n); emit_line(b, '-', s, n); lua_pop(L, 1); return; }
      lua_pop(L, 1);
      rawfield(L, idx, "ok");
      if (lua_isstring(L, -1)) { s = lua_tolstring(L, -1, &n); emit_line(b, '+', s, n); lua_pop(L, 1); return; }
      lua_pop(L, 1);
      rawfield(L, idx, "double");
      if (lua_type(L, -1) == LUA_TNUMBER) {
        char t[64]; fmt_double(t, sizeof t, lua_tonumber(L, -1)); lua_pop(L, 1);
        if (proto == 3) { buf_str(b, ","); buf_str(b, t); buf_str(b, "\r\n"); } else emit_bulk(b, t, strlen(t));
        return;
      }
      lua_pop(L, 1);
      rawfield(L, idx, "big_number");
      if (lua_type(L, -1) == LUA_TSTRING) {
        s = lua_tolstring(L, -1, &n);
        if (proto == 3) emit_line(b, '(', s, n); else emit_bulk(b, s, n);
        lua_pop(L, 1); return;
      }
      lua_pop(L, 1);
      rawfield(L, idx, "map");
      if (lua_type(L, -1) == LUA_TTABLE) {
        int t = lua_gettop(L); long long count = 0;
        lua_pushnil(L); while (lua_next(L, t)) { count++; lua_pop(L, 1); }
        if (proto == 3) buf_int(b, '%', count); else buf_int(b, '*', count * 2);
        lua_pushnil(L);
        while (lua_next(L, t)) {
          int top = lua_gettop(L);
          emit(vm, L, top - 1, b, proto, depth + 1);
          emit(vm, L, top, b, proto, depth + 1);
          lua_pop(L, 1);
        }
        lua_pop(L, 1); return;
      }
      lua_pop(L, 1);
      rawfield(L, idx, "set");
      if (lua_type(L, -1) == LUA_TTABLE) {
        int t = lua_gettop(L); long long count = 0;
        lua_pushnil(L); while (lua_next(L, t)) { count++; lua_pop(L, 1); }
        buf_int(b, proto == 3 ? '~' : '*', count);
        lua_pushnil(L);
        while (lua_next(L, t)) { emit(vm, L, lua_gettop(L) - 1, b, proto, depth + 1); lua_pop(L, 1); }
        lua_pop(L, 1); return;
      }
      lua_pop(L, 1);
      rawfield(L, idx, "verbatim_string");
      if (lua_type(L, -1) == LUA_TTABLE) {
        int t = lua_gettop(L);
        rawfield(L, t, "format"); rawfield(L, t, "string");
        if (lua_type(L, -1) == LUA_TSTRING && lua_type(L, -2) == LUA_TSTRING) {
          size_t fl; const char *f = lua_tolstring(L, -2, &fl);
          s = lua_tolstring(L, -1, &n);
          if (proto == 3) { buf_int(b, '=', (long long)(n + 4)); buf_add(b, f, fl > 3 ? 3 : fl); buf_str(b, ":"); buf_add(b, s, n); buf_str(b, "\r\n"); }
          else emit_bulk(b, s, n);
          lua_pop(L, 3); return;
        }
        lua_pop(L, 2);
      }
      lua_pop(L, 1);
      /* An array: elements 1..n up to the first nil. */
      long long count = 0;
      for (;;) { lua_rawgeti(L, idx, (int)count + 1); int nil = lua_isnil(L, -1); lua_pop(L, 1); if (nil) break; count++; }
      buf_int(b, '*', count);
      for (long long j = 1; j <= count; j++) {
        lua_rawgeti(L, idx, (int)j);
        emit(vm, L, lua_gettop(L), b, proto, depth + 1);
        lua_pop(L, 1);
      }
      return;
    }
    default: emit_null(b, proto); return;
  }
}

/* ------------------------------------------------------------------ redis.* API */

static void push_error_table(lua_State *L, const char *msg, size_t n) {
  lua_newtable(L);
  lua_pushlstring(L, msg, n);
  lua_setfield(L, -2, "err");
}

static int raise_error_msg(lua_State *L, const char *msg) {
  push_error_table(L, msg, strlen(msg));
  return lua_error(L);
}

/* Errors of the redis.* API: a table {err="ERR <msg>"}, without a position prefix, as Redis raises them. */
static int api_error(lua_State *L, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg + 4, sizeof msg - 4, fmt, ap);
  va_end(ap);
  memcpy(msg, "ERR ", 4);
  push_error_table(L, msg, n < 0 ? 4 : (size_t)(n + 4 < (int)sizeof msg ? n + 4 : (int)sizeof msg - 1));
  return lua_error(L);
}

static int redis_generic_call(lua_State *L, int raise) {
  VM *vm = vm_of(L);
  napi_env env = vm->env;
  int argc = lua_gettop(L);
  if (vm->loading) return luaL_error(L, "attempt to call field 'call' (a nil value)");
  if (argc == 0) {
    push_error_table(L, "ERR Please specify at least one argument for this redis lib call", 64);
    return raise ? lua_error(L) : 1;
  }
  for (int i = 1; i <= argc; i++) {
    int t = lua_type(L, i);
    if (t != LUA_TSTRING && t != LUA_TNUMBER) {
      push_error_table(L, "ERR Lua redis lib command arguments must be strings or integers", 63);
      return raise ? lua_error(L) : 1;
    }
  }
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  /* call(resp, ...argv): the arguments go as arguments (building a JS array element by
   * element through N-API costs more than the call itself). */
  napi_value fn, global, result, stackargs[17];
  napi_value *args = argc < 17 ? stackargs : malloc(sizeof(napi_value) * (size_t)(argc + 1));
  napi_create_int32(env, vm->resp, &args[0]);
  for (int i = 1; i <= argc; i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {
      char t[64]; snprintf(t, sizeof t, "%.17g", (double)lua_tonumber(L, i));
      napi_create_string_latin1(env, t, NAPI_AUTO_LENGTH, &args[i]);
    } else {
      size_t n; const char *p = lua_tolstring(L, i, &n);
      napi_create_string_latin1(env, p, n, &args[i]);
    }
  }
  napi_get_reference_value(env, vm->hooks[H_CALL], &fn);
  napi_get_undefined(env, &global);
  napi_status st = napi_call_function(env, global, fn, (size_t)argc + 1, args, &result);
  if (args != stackargs) free(args);
  int is_err = 0;
  if (st != napi_ok) {
    napi_value exc; napi_get_and_clear_last_exception(env, &exc);
    napi_close_handle_scope(env, scope);
    push_error_table(L, "ERR internal error in redis.call", 32);
    is_err = 1;
  } else {
    void *data = NULL; size_t len = 0;
    napi_get_buffer_info(env, result, &data, &len);
    const char *p = (const char *)data;
    is_err = len > 0 && p[0] == '-';
    lua_settop(L, 0);
    push_resp(L, p, p + len, 0);
    napi_close_handle_scope(env, scope);
  }
  if (is_err && raise) return lua_error(L);
  return 1;
}
static int l_redis_call(lua_State *L) { return redis_generic_call(L, 1); }
static int l_redis_pcall(lua_State *L) { return redis_generic_call(L, 0); }

static int l_error_reply(lua_State *L) {
  size_t n; const char *s = luaL_checklstring(L, 1, &n);
  lua_newtable(L);
  if (n > 0 && s[0] == '-') lua_pushlstring(L, s + 1, n - 1); else lua_pushlstring(L, s, n);
  lua_setfield(L, -2, "err");
  return 1;
}
static int l_status_reply(lua_State *L) {
  size_t n; const char *s = luaL_checklstring(L, 1, &n);
  lua_newtable(L); lua_pushlstring(L, s, n); lua_setfield(L, -2, "ok");
  return 1;
}

/* SHA1 (FIPS 180-1), for redis.sha1hex. */
typedef struct { uint32_t h[5]; uint64_t len; unsigned char blk[64]; size_t n; } Sha1;
#define ROL(v, b) (((v) << (b)) | ((v) >> (32 - (b))))
static void sha1_block(Sha1 *s, const unsigned char *p) {
  uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
    else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
    else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
    else { f = b ^ c ^ d; k = 0xCA62C1D6; }
    uint32_t t = ROL(a, 5) + f + e + k + w[i];
    e = d; d = c; c = ROL(b, 30); b = a; a = t;
  }
  s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}
static void sha1_hex(const char *data, size_t len, char out[41]) {
  Sha1 s = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
  const unsigned char *p = (const unsigned char *)data;
  size_t i = 0;
  for (; i + 64 <= len; i += 64) sha1_block(&s, p + i);
  unsigned char tail[128] = {0};
  size_t r = len - i;
  memcpy(tail, p + i, r);
  tail[r] = 0x80;
  size_t tl = r + 9 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int k = 0; k < 8; k++) tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
  sha1_block(&s, tail);
  if (tl == 128) sha1_block(&s, tail + 64);
  for (int k = 0; k < 5; k++) snprintf(out + 8 * k, 9, "%08x", s.h[k]);
}
static int l_sha1hex(lua_State *L) {
  if (lua_gettop(L) != 1) return api_error(L, "wrong number of arguments");
  size_t n; const char *s = lua_tolstring(L, 1, &n);
  if (!s) { s = ""; n = 0; }
  char out[41]; sha1_hex(s, n, out);
  lua_pushstring(L, out);
  return 1;
}

static int hook_call(lua_State *L, int which, int nargs, napi_value *args) {
  VM *vm = vm_of(L);
  napi_env env = vm->env;
  napi_value fn, global, result;
  napi_get_reference_value(env, vm->hooks[which], &fn);
  napi_get_undefined(env, &global);
  if (napi_call_function(env, global, fn, nargs, args, &result) != napi_ok) {
    napi_value exc; napi_get_and_clear_last_exception(env, &exc);
    return -1;
  }
  int32_t r = 0;
  napi_get_value_int32(env, result, &r);
  return r;
}

static int l_log(lua_State *L) {
  VM *vm = vm_of(L);
  int argc = lua_gettop(L);
  if (argc < 2) return api_error(L, "redis.log() requires two arguments or more.");
  if (!lua_isnumber(L, 1)) return api_error(L, "First argument must be a number (log level).");
  int level = (int)lua_tonumber(L, 1);
  if (level < 0 || level > 3) return api_error(L, "Invalid debug level.");
  luaL_Buffer lb; luaL_buffinit(L, &lb);
  for (int i = 2; i <= argc; i++) {
    size_t n; const char *s = lua_tolstring(L, i, &n);
    if (s) { if (i > 2) luaL_addchar(&lb, ' '); luaL_addlstring(&lb, s, n); }
  }
  luaL_pushresult(&lb);
  size_t n; const char *msg = lua_tolstring(L, -1, &n);
  napi_handle_scope scope; napi_open_handle_scope(vm->env, &scope);
  napi_value args[2];
  napi_create_int32(vm->env, level, &args[0]);
  napi_create_string_latin1(vm->env, msg, n, &args[1]);
  hook_call(L, H_LOG, 2, args);
  napi_close_handle_scope(vm->env, scope);
  return 0;
}

static int l_setresp(lua_State *L) {
  VM *vm = vm_of(L);
  if (lua_gettop(L) != 1) return api_error(L, "redis.setresp() requires one argument.");
  int r = (int)lua_tonumber(L, 1);
  if (r != 2 && r != 3) return api_error(L, "RESP version must be 2 or 3.");
  vm->resp = r;
  return 0;
}

static int l_set_repl(lua_State *L) {
  VM *vm = vm_of(L);
  if (lua_gettop(L) != 1) return api_error(L, "redis.set_repl() requires two arguments.");
  int flags = (int)lua_tonumber(L, 1);
  if (flags < 0 || flags > 3) return api_error(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
  napi_handle_scope scope; napi_open_handle_scope(vm->env, &scope);
  napi_value a; napi_create_int32(vm->env, flags, &a);
  hook_call(L, H_SETREPL, 1, &a);
  napi_close_handle_scope(vm->env, scope);
  return 0;
}

static int l_replicate_commands(lua_State *L) { lua_pushboolean(L, 1); return 1; }
/* The Lua debugger (SCRIPT DEBUG) is not offered: outside a debugging session Redis's
 * redis.breakpoint() returns false and redis.debug() does nothing. */
static int l_breakpoint(lua_State *L) { lua_pushboolean(L, 0); return 1; }
static int l_debug(lua_State *L) { (void)L; return 0; }

/* redis.register_function(name, fn) or redis.register_function{function_name=, callback=, flags=, description=} */
static int l_register_function(lua_State *L) {
  VM *vm = vm_of(L);
  if (!vm->loading) return api_error(L, "redis.register_function can only be called on FUNCTION LOAD command");
  int argc = lua_gettop(L);
  const char *name = NULL; size_t nlen = 0; int fn_idx = 0, flags_idx = 0, desc_idx = 0;
  if (argc == 1 && lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING) return api_error(L, "named argument key given to redis.register_function is not a string");
      const char *k = lua_tostring(L, -2);
      if (strcmp(k, "function_name") == 0) { if (lua_type(L, -1) != LUA_TSTRING) return api_error(L, "function_name argument given to redis.register_function must be a string"); }
      else if (strcmp(k, "callback") == 0) { if (!lua_isfunction(L, -1)) return api_error(L, "callback argument given to redis.register_function must be a function"); }
      else if (strcmp(k, "flags") == 0) { if (!lua_istable(L, -1)) return api_error(L, "flags argument to redis.register_function must be a table representing function flags"); }
      else if (strcmp(k, "description") == 0) { if (lua_type(L, -1) != LUA_TSTRING) return api_error(L, "description argument given to redis.register_function must be a string"); }
      else return api_error(L, "unknown argument given to redis.register_function");
      lua_pop(L, 1);
    }
    lua_getfield(L, 1, "function_name"); lua_getfield(L, 1, "callback"); lua_getfield(L, 1, "flags"); lua_getfield(L, 1, "description");
    if (lua_isnil(L, 2) || lua_isnil(L, 3)) return api_error(L, "redis.register_function must get a function name argument");
    name = lua_tolstring(L, 2, &nlen); fn_idx = 3;
    flags_idx = lua_isnil(L, 4) ? 0 : 4; desc_idx = lua_isnil(L, 5) ? 0 : 5;
  } else if (argc == 2) {
    if (lua_type(L, 1) != LUA_TSTRING) return api_error(L, "first argument to redis.register_function must be a string");
    if (!lua_isfunction(L, 2)) return api_error(L, "second argument to redis.register_function must be a function");
    name = lua_tolstring(L, 1, &nlen); fn_idx = 2;
  } else {
    return api_error(L, "wrong number of arguments to redis.register_function");
  }
  napi_env env = vm->env;
  napi_handle_scope scope; napi_open_handle_scope(env, &scope);
  napi_value args[3];
  napi_create_string_latin1(env, name, nlen, &args[0]);
  napi_create_array(env, &args[1]);
  if (flags_idx) {
    for (int i = 1;; i++) {
      lua_rawgeti(L, flags_idx, i);
      if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
      if (lua_type(L, -1) != LUA_TSTRING) { lua_pop(L, 1); napi_close_handle_scope(env, scope); return api_error(L, "unknown flag given"); }
      napi_value s; napi_create_string_latin1(env, lua_tostring(L, -1), NAPI_AUTO_LENGTH, &s);
      napi_set_element(env, args[1], i - 1, s);
      lua_pop(L, 1);
    }
  }
  if (desc_idx) { size_t dl; const char *d = lua_tolstring(L, desc_idx, &dl); napi_create_string_latin1(env, d, dl, &args[2]); }
  else napi_get_null(env, &args[2]);
  napi_value fn, global, result;
  napi_get_reference_value(env, vm->hooks[H_REGISTER], &fn);
  napi_get_undefined(env, &global);
  char errbuf[256] = {0};
  if (napi_call_function(env, global, fn, 3, args, &result) != napi_ok) {
    napi_value exc; napi_get_and_clear_last_exception(env, &exc);
    snprintf(errbuf, sizeof errbuf, "internal error registering a function");
  } else {
    napi_valuetype t; napi_typeof(env, result, &t);
    if (t == napi_string) { size_t l; napi_get_value_string_latin1(env, result, errbuf, sizeof errbuf, &l); }
  }
  napi_close_handle_scope(env, scope);
  if (errbuf[0]) return api_error(L, "%s", errbuf);
  /* pending[name] = fn */
  lua_getfield(L, LUA_REGISTRYINDEX, "__sonic_pending");
  lua_pushlstring(L, name, nlen);
  lua_pushvalue(L, fn_idx);
  lua_settable(L, -3);
  return 0;
}

/* ------------------------------------------------------------------ sandbox */

static int l_global_index(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  return luaL_error(L, "Script attempted to access nonexistent global variable '%s'", k ? k : "?");
}
static int l_readonly(lua_State *L) { return luaL_error(L, "Attempt to modify a readonly table"); }

static const char *SANDBOX =
  "local G = ...\n"
  "local ro = G.__sonic_readonly\n"
  "local function proxy(t)\n"
  "  local p = {}\n"
  "  setmetatable(p, { __index = t, __newindex = ro, __metatable = false })\n"
  "  return p\n"
  "end\n"
  "for _, n in ipairs({'redis','cjson','bit','struct','cmsgpack','string','table','math','coroutine','debug'}) do\n"
  "  if rawget(G, n) then rawset(G, n, proxy(rawget(G, n))) end\n"
  "end\n"
  "G.__sonic_readonly = nil\n"
  "return proxy\n";

static void setup_state(VM *vm) {
  lua_State *L = vm->L;
  lua_pushlightuserdata(L, vm); lua_setfield(L, LUA_REGISTRYINDEX, "__sonic_vm");
  lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, "__sonic_scripts");
  lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, "__sonic_functions");
  lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, "__sonic_pending");
  lua_cpcall(L, luaopen_base, NULL);
  lua_cpcall(L, luaopen_table, NULL);
  lua_cpcall(L, luaopen_string, NULL);
  lua_cpcall(L, luaopen_math, NULL);
  lua_cpcall(L, luaopen_debug, NULL);
  lua_pushcfunction(L, luaopen_cjson); lua_call(L, 0, 1); lua_setglobal(L, "cjson");
  lua_pushcfunction(L, luaopen_bit); lua_call(L, 0, 1); lua_setglobal(L, "bit");
  lua_pushcfunction(L, sonic_open_cmsgpack); lua_call(L, 0, 1); lua_setglobal(L, "cmsgpack");
  lua_pushcfunction(L, sonic_open_struct); lua_call(L, 0, 1); lua_setglobal(L, "struct");
  /* What Redis 7.0 removes from the base library. */
  const char *gone[] = {"loadfile", "dofile", "print", "module", "require", "package", "newproxy", "gcinfo", NULL};
  for (int i = 0; gone[i]; i++) { lua_pushnil(L); lua_setglobal(L, gone[i]); }
  lua_newtable(L);
  lua_pushcfunction(L, l_redis_call); lua_setfield(L, -2, "call");
  lua_pushcfunction(L, l_redis_pcall); lua_setfield(L, -2, "pcall");
  lua_pushcfunction(L, l_error_reply); lua_setfield(L, -2, "error_reply");
  lua_pushcfunction(L, l_status_reply); lua_setfield(L, -2, "status_reply");
  lua_pushcfunction(L, l_sha1hex); lua_setfield(L, -2, "sha1hex");
  lua_pushcfunction(L, l_log); lua_setfield(L, -2, "log");
  lua_pushcfunction(L, l_setresp); lua_setfield(L, -2, "setresp");
  lua_pushcfunction(L, l_set_repl); lua_setfield(L, -2, "set_repl");
  lua_pushcfunction(L, l_replicate_commands); lua_setfield(L, -2, "replicate_commands");
  lua_pushcfunction(L, l_breakpoint); lua_setfield(L, -2, "breakpoint");
  lua_pushcfunction(L, l_debug); lua_setfield(L, -2, "debug");
  lua_pushcfunction(L, l_register_function); lua_setfield(L, -2, "register_function");
  const char *names[] = {"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"};
  for (int i = 0; i < 4; i++) { lua_pushnumber(L, i); lua_setfield(L, -2, names[i]); }
  lua_pushnumber(L, 0); lua_setfield(L, -2, "REPL_NONE");
  lua_pushnumber(L, 1); lua_setfield(L, -2, "REPL_AOF");
  lua_pushnumber(L, 2); lua_setfield(L, -2, "REPL_SLAVE");
  lua_pushnumber(L, 2); lua_setfield(L, -2, "REPL_REPLICA");
  lua_pushnumber(L, 3); lua_setfield(L, -2, "REPL_ALL");
  lua_pushstring(L, "7.0.15"); lua_setfield(L, -2, "REDIS_VERSION");
  lua_pushnumber(L, 0x07000f); lua_setfield(L, -2, "REDIS_VERSION_NUM");
  lua_setglobal(L, "redis");
  lua_pushcfunction(L, l_readonly); lua_setglobal(L, "__sonic_readonly");
  /* Library tables become read-only proxies; the globals table errors on unknown names. */
  luaL_loadbuffer(L, SANDBOX, strlen(SANDBOX), "=sandbox");
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  lua_call(L, 1, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "__sonic_proxy");
  lua_newtable(L);
  lua_pushcfunction(L, l_global_index); lua_setfield(L, -2, "__index");
  lua_setmetatable(L, LUA_GLOBALSINDEX);
  /* The environment scripts see: an empty table that reads through to the globals and refuses writes. */
  lua_newtable(L);
  lua_newtable(L);
  lua_pushvalue(L, LUA_GLOBALSINDEX); lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_readonly); lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "__sonic_env");
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  lua_setfield(L, LUA_REGISTRYINDEX, "__sonic_G");
}

/* ------------------------------------------------------------------ N-API glue */

static void vm_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  VM *vm = (VM *)data;
  for (int i = 0; i < H_COUNT; i++) if (vm->hooks[i]) napi_delete_reference(env, vm->hooks[i]);
  lua_close(vm->L);
  free(vm->out.p);
  free(vm);
}

static VM *get_vm(napi_env env, napi_value v) {
  void *p = NULL;
  napi_get_value_external(env, v, &p);
  return (VM *)p;
}

static char *get_str(napi_env env, napi_value v, size_t *len) {
  size_t n = 0;
  napi_get_value_string_latin1(env, v, NULL, 0, &n);
  char *s = malloc(n + 1);
  napi_get_value_string_latin1(env, v, s, n + 1, &n);
  if (len) *len = n;
  return s;
}

/* createVM({call, log, setRepl, register}) -> external */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  VM *vm = calloc(1, sizeof(VM));
  vm->L = luaL_newstate();
  vm->env = env;
  vm->resp = 2;
  const char *names[H_COUNT] = {"call", "log", "setRepl", "register"};
  for (int i = 0; i < H_COUNT; i++) {
    napi_value f; CHECK(napi_get_named_property(env, argv[0], names[i], &f));
    CHECK(napi_create_reference(env, f, 1, &vm->hooks[i]));
  }
  setup_state(vm);
  napi_value ext;
  CHECK(napi_create_external(env, vm, vm_finalize, NULL, &ext));
  return ext;
}

/* compile(vm, table: "scripts"|"lib", name, body, chunkname) -> null | error message.
 * scripts: stores the compiled chunk in the script table under `name`.
 * lib: runs the library body at once in loading mode (register_function collects into pending). */
static napi_value js_compile(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  VM *vm = get_vm(env, argv[0]);
  char *kind = get_str(env, argv[1], NULL);
  size_t nlen, blen;
  char *name = get_str(env, argv[2], &nlen);
  char *body = get_str(env, argv[3], &blen);
  char *chunk = get_str(env, argv[4], NULL);
  lua_State *L = vm->L;
  vm->env = env;
  napi_value ret;
  napi_get_null(env, &ret);
  int is_lib = strcmp(kind, "lib") == 0;
  if (luaL_loadbuffer(L, body, blen, chunk) != 0) {
    const char *e = lua_tostring(L, -1);
    napi_create_string_latin1(env, e ? e : "?", NAPI_AUTO_LENGTH, &ret);
    lua_pop(L, 1);
  } else {
    /* Each script or library gets the read-only environment. */
    lua_getfield(L, LUA_REGISTRYINDEX, "__sonic_env");
    lua_setfenv(L, -2);
    if (!is_lib) {
      lua_getfield(L, LUA_REGISTRYINDEX, "__sonic_scripts");
      lua_pushlstring(L, name, nlen);
      lua_pushvalue(L, -3);
      lua_settable(L, -3);
      lua_pop(L, 2);
    } else {
      lua_getfield(L, LUA_REGISTRYINDEX, "__sonic_pending");
      lua_pushnil(L);
      while (lua_next(L, -2)) { lua_pop(L, 1); lua_pushvalue(L, -1); lua_pushnil(L); lua_settable(L, -4); }
      lua_pop(L, 1);
      vm->loading = 1;
      vm->started_ms = now_ms();
      vm->busy_ms = 0;
      vm->may_yield = 0;
      lua_sethook(L, NULL, 0, 0);
      if (lua_pcall(L, 0, 0, 0) != 0) {
        if (lua_istable(L, -1)) { rawfield(L, -1, "err"); lua_remove(L, -2); }
        const char *e = lua_tostring(L, -1);
        napi_create_string_latin1(env, e ? e : "unknown error", NAPI_AUTO_LENGTH, &ret);
        lua_pop(L, 1);
      }
      vm->loading = 0;
    }
  }
  free(kind); free(name); free(body); free(chunk);
  return ret;
}

/* commit(vm, names[] | null): moves pending functions into the function table (null: drop them). */
static napi_value js_commit(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  VM *vm = get_vm(env, argv[0]);
  lua_State *L = vm->L;
  napi_valuetype t; napi_typeof(env, argv[1], &t);
  lua_getfield(L, LUA_REGISTRYINDEX, "__sonic_functions");
  lua_getfield(L, LUA_REGISTRYINDEX, "__sonic_pending");
  if (t != napi_null) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2); lua_insert(L, -2);
      lua_settable(L, -5);
    }
  }
  lua_pop(L, 2);
  lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, "__sonic_pending");
  return NULL;
}

/* drop(vm, "scripts"|"functions", names[] | null (all)) */
static napi_value js_drop(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  VM *vm = get_vm(env, argv[0]);
  lua_State *L = vm->L;
  char *kind = get_str(env, argv[1], NULL);
  const char *table = strcmp(kind, "scripts") == 0 ? "__sonic_scripts" : "__sonic_functions";
  free(kind);
  napi_valuetype t; napi_typeof(env, argv[2], &t);
  if (t == napi_null) {
    lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, table);
  } else {
    uint32_t n; napi_get_array_length(env, argv[2], &n);
    lua_getfield(L, LUA_REGISTRYINDEX, table);
    for (uint32_t i = 0; i < n; i++) {
      napi_value v; napi_get_element(env, argv[2], i, &v);
      size_t l; char *s = get_str(env, v, &l);
      lua_pushlstring(L, s, l); lua_pushnil(L); lua_settable(L, -3);
      free(s);
    }
    lua_pop(L, 1);
  }
  lua_gc(L, LUA_GCCOLLECT, 0);
  return NULL;
}

static void count_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  VM *vm = vm_of(L);
  if (vm->killed) {
    lua_sethook(L, count_hook, LUA_MASKLINE, 0);
    raise_error_msg(L, vm->loading ? "ERR FUNCTION LOAD timeout" : "ERR Script killed by user with SCRIPT KILL...");
    return;
  }
  if (vm->may_yield && vm->busy_ms > 0 && now_ms() - vm->started_ms >= vm->busy_ms) {
    struct mirror_State *m = (struct mirror_State *)L;
    if (can_mirror && m->nCcalls <= m->baseCcalls) { vm->yielded = 1; lua_yield(L, 0); }
  }
}

/* After an error in the coroutine: location of the function that raised it. */
static void error_location(lua_State *co, char *src, size_t srccap, int *line) {
  lua_Debug ar;
  src[0] = 0; *line = -1;
  for (int level = 0; level < 3; level++) {
    if (!lua_getstack(co, level, &ar)) return;
    lua_getinfo(co, "Sl", &ar);
    if (strcmp(ar.what, "C") == 0) continue;
    snprintf(src, srccap, "%s", ar.source);
    *line = ar.currentline;
    return;
  }
}

/* Resumes the coroutine; returns the reply Buffer, or null when it yielded. */
static napi_value finish_or_yield(napi_env env, VM *vm, int nargs) {
  lua_State *co = vm->co;
  vm->yielded = 0;
  int st = lua_resume(co, nargs);
  napi_value ret;
  if (st == LUA_YIELD) { napi_get_null(env, &ret); return ret; }
  Buf b = vm->out;
  b.len = 0;
  lua_State *L = vm->L;
  if (st == 0) {
    if (lua_gettop(co) == 0) lua_pushnil(co);
    emit(vm, co, 1, &b, vm->caller_resp, 0);
    lua_settop(co, 0);
  } else {
    char src[128]; int line;
    error_location(co, src, sizeof src, &line);
    const char *msg = NULL; size_t mlen = 0;
    char tmp[64];
    if (lua_istable(co, -1)) {
      rawfield(co, -1, "err");
      msg = lua_tolstring(co, -1, &mlen);
      if (msg) { buf_str(&b, "-"); }
    }
    if (!msg) {
      const char *s = lua_istable(co, -1) ? NULL : lua_tolstring(co, -1, &mlen);
      if (!s) { snprintf(tmp, sizeof tmp, "%s", lua_typename(co, lua_type(co, -1))); s = tmp; mlen = strlen(s); }
      buf_str(&b, "-ERR ");
      msg = s;
    }
    size_t start = b.len;
    buf_add(&b, msg, mlen);
    if (line >= 0) {
      char suffix[256];
      snprintf(suffix, sizeof suffix, " script: %s, on %s:%d.", vm->label, src, line);
      buf_str(&b, suffix);
    }
    for (size_t i = start; i < b.len; i++) if (b.p[i] == '\r' || b.p[i] == '\n') b.p[i] = ' ';
    buf_str(&b, "\r\n");
    /* A coroutine that failed cannot run again: drop it. */
    luaL_unref(L, LUA_REGISTRYINDEX, vm->co_ref);
    vm->co = NULL;
  }
  if (vm->co) lua_sethook(vm->co, NULL, 0, 0);
  /* A latin1 string: no backing store to allocate and sweep, as a Buffer would need. */
  napi_create_string_latin1(env, b.p, b.len, &ret);
  if (b.cap > 65536) {
    free(b.p);
    b.p = NULL;
    b.len = b.cap = 0;
  }
  vm->out = b;
  return ret;
}

/* Pushes a JS string's bytes (latin1) as a Lua string. */
static void push_napi_string(napi_env env, lua_State *L, napi_value v) {
  char stackbuf[256];
  size_t l = 0;
  napi_get_value_string_latin1(env, v, NULL, 0, &l);
  char *s = l < sizeof stackbuf ? stackbuf : malloc(l + 1);
  napi_get_value_string_latin1(env, v, s, l + 1, &l);
  lua_pushlstring(L, s, l);
  if (s != stackbuf) free(s);
}

/* A Lua array of a JS array's strings (for calls with too many keys and arguments to pass
 * them as arguments). */
static void push_string_array(napi_env env, lua_State *L, napi_value arr) {
  uint32_t n = 0; napi_get_array_length(env, arr, &n);
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v; napi_get_element(env, arr, i, &v);
    push_napi_string(env, L, v);
    lua_rawseti(L, -2, (int)i + 1);
  }
}

/* A Lua array of the strings v[0..n-1]. */
static void push_strings(napi_env env, lua_State *L, napi_value *v, size_t n) {
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    push_napi_string(env, L, v[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
}

static napi_value js_run_args(napi_env env, napi_value *argv, size_t argc);

/* run(vm, kind "scripts"|"functions", name, callerResp, label, busyMs, mayYield, numkeys,
 *     ...keys, ...args) -> string (the reply) | null (yielded: call resume later)
 *     | undefined (no such script). numkeys -1: then a keys array and an args array. */
static napi_value js_run(napi_env env, napi_callback_info info) {
  /* Keys and arguments come as arguments, not arrays: reading array elements through
   * N-API costs more than the script. */
  napi_value stackv[40];
  size_t argc = 40; napi_value *argv = stackv;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc > 40) {
    argv = malloc(sizeof(napi_value) * argc);
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  }
  napi_value ret = js_run_args(env, argv, argc);
  if (argv != stackv) free(argv);
  return ret;
}

static napi_value js_run_args(napi_env env, napi_value *argv, size_t argc) {
  VM *vm = get_vm(env, argv[0]);
  lua_State *L = vm->L;
  vm->env = env;
  char kind[16]; size_t kl;
  napi_get_value_string_latin1(env, argv[1], kind, sizeof kind, &kl);
  int is_fn = strcmp(kind, "functions") == 0;
  char namebuf[128];
  size_t nlen = 0;
  napi_get_value_string_latin1(env, argv[2], NULL, 0, &nlen);
  char *name = nlen < sizeof namebuf ? namebuf : malloc(nlen + 1);
  napi_get_value_string_latin1(env, argv[2], name, nlen + 1, &nlen);
  int32_t caller_resp = 2; napi_get_value_int32(env, argv[3], &caller_resp);
  size_t ll; napi_get_value_string_latin1(env, argv[4], vm->label, sizeof vm->label, &ll);
  double busy = 0; napi_get_value_double(env, argv[5], &busy);
  bool may_yield = false; napi_get_value_bool(env, argv[6], &may_yield);
  /* numkeys -1: a keys array and an arguments array follow instead. */
  int32_t nk = 0; napi_get_value_int32(env, argv[7], &nk);
  int arrays = nk < 0 && argc >= 10;
  size_t nrest = argc > 8 ? argc - 8 : 0;
  size_t nkeys = nk < 0 ? 0 : (size_t)nk;
  if (nkeys > nrest) nkeys = nrest;

  if (vm->co == NULL) {
    vm->co = lua_newthread(L);
    vm->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* Code loaded inside the script (loadstring) sees the read-only environment too. */
    lua_getfield(vm->co, LUA_REGISTRYINDEX, "__sonic_env");
    lua_replace(vm->co, LUA_GLOBALSINDEX);
  }
  lua_State *co = vm->co;
  lua_settop(co, 0);
  lua_getfield(co, LUA_REGISTRYINDEX, is_fn ? "__sonic_functions" : "__sonic_scripts");
  lua_pushlstring(co, name, nlen);
  lua_rawget(co, -2);
  lua_remove(co, -2);
  if (name != namebuf) free(name);
  if (!lua_isfunction(co, -1)) {
    lua_settop(co, 0);
    napi_value u; napi_get_undefined(env, &u);
    return u;
  }
  vm->resp = 2;
  vm->caller_resp = caller_resp;
  vm->killed = 0;
  vm->started_ms = now_ms();
  vm->busy_ms = busy;
  vm->may_yield = may_yield;
  lua_sethook(co, count_hook, LUA_MASKCOUNT, 100000);
  int nargs = 0;
  if (!is_fn) lua_getfield(co, LUA_REGISTRYINDEX, "__sonic_G");
  if (arrays) push_string_array(env, co, argv[8]);
  else push_strings(env, co, argv + 8, nkeys);
  if (!is_fn) lua_setfield(co, -2, "KEYS");
  if (arrays) push_string_array(env, co, argv[9]);
  else push_strings(env, co, argv + 8 + nkeys, nrest - nkeys);
  if (is_fn) nargs = 2;
  else {
    lua_setfield(co, -2, "ARGV");
    lua_pop(co, 1);
  }
  return finish_or_yield(env, vm, nargs);
}

/* resume(vm) -> Buffer | null */
static napi_value js_resume(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  VM *vm = get_vm(env, argv[0]);
  vm->env = env;
  return finish_or_yield(env, vm, 0);
}

/* kill(vm): the running script fails at its next hook. */
static napi_value js_kill(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  VM *vm = get_vm(env, argv[0]);
  vm->killed = 1;
  return NULL;
}

/* memory(vm) -> bytes used by the Lua heap */
static napi_value js_memory(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  VM *vm = get_vm(env, argv[0]);
  napi_value r;
  napi_create_double(env, lua_gc(vm->L, LUA_GCCOUNT, 0) * 1024.0 + lua_gc(vm->L, LUA_GCCOUNTB, 0), &r);
  return r;
}

/* Self-test of the lua_State mirror: read status and hookmask through it. */
static int probe_fn(lua_State *L) {
  struct mirror_State *m = (struct mirror_State *)L;
  int ok = m->hookmask == (unsigned char)lua_gethookmask(L) && m->nCcalls >= m->baseCcalls && m->baseCcalls > 0;
  lua_pushboolean(L, ok);
  return 1;
}
static void dummy_hook(lua_State *L, lua_Debug *ar) { (void)L; (void)ar; }
static int self_test(void) {
  lua_State *L = luaL_newstate();
  lua_State *co = lua_newthread(L);
  lua_sethook(co, dummy_hook, LUA_MASKCOUNT, 1000000);
  lua_pushcfunction(co, probe_fn);
  int ok = lua_resume(co, 0) == 0 && lua_toboolean(co, -1);
  struct mirror_State *m = (struct mirror_State *)co;
  ok = ok && m->status == lua_status(co);
  lua_close(L);
  return ok;
}

static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, LUA_RELEASE, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "release", v);
  napi_get_boolean(env, can_mirror, &v);
  napi_set_named_property(env, o, "canYield", v);
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  can_mirror = self_test();
  napi_property_descriptor d[] = {
    {"createVM", 0, js_create, 0, 0, 0, napi_default, 0},
    {"compile", 0, js_compile, 0, 0, 0, napi_default, 0},
    {"commit", 0, js_commit, 0, 0, 0, napi_default, 0},
    {"drop", 0, js_drop, 0, 0, 0, napi_default, 0},
    {"run", 0, js_run, 0, 0, 0, napi_default, 0},
    {"resume", 0, js_resume, 0, 0, 0, napi_default, 0},
    {"kill", 0, js_kill, 0, 0, 0, napi_default, 0},
    {"memory", 0, js_memory, 0, 0, 0, napi_default, 0},
    {"info", 0, js_info, 0, 0, 0, napi_default, 0},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
