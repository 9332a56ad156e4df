/*
 * The `cmsgpack` and `struct` libraries Redis scripts can use, written for Sonic against
 * their documented behaviour (MessagePack spec; Roberto Ierusalimschy's struct API).
 */
#include <lua.h>
#include <lauxlib.h>
#include <string.h>
#include <stdint.h>
#include <math.h>

/* ------------------------------------------------------------------ cmsgpack */

#define MP_MAX_NESTING 16

static void mp_be(luaL_Buffer *b, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) luaL_addchar(b, (char)((v >> (8 * i)) & 0xff));
}

static int mp_is_array(lua_State *L, int idx, size_t *len) {
  size_t count = 0; double max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) { lua_pop(L, 1); return 0; }
    double k = lua_tonumber(L, -1);
    if (k <= 0 || floor(k) != k) { lua_pop(L, 1); return 0; }
    if (k > max) max = k;
    count++;
  }
  *len = count;
  return max == (double)count;
}

static void mp_encode(lua_State *L, luaL_Buffer *b, int idx, int level);

static void mp_encode_len(luaL_Buffer *b, size_t n, int fix, unsigned char fixbase, unsigned char c16, unsigned char c32) {
  if (n < (size_t)fix) luaL_addchar(b, (char)(fixbase | n));
  else if (n <= 0xffff) { luaL_addchar(b, (char)c16); mp_be(b, n, 2); }
  else { luaL_addchar(b, (char)c32); mp_be(b, n, 4); }
}

static void mp_encode(lua_State *L, luaL_Buffer *b, int idx, int level) {
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: luaL_addchar(b, lua_toboolean(L, idx) ? (char)0xc3 : (char)0xc2); return;
    case LUA_TNUMBER: {
      double n = lua_tonumber(L, idx);
      if (floor(n) == n && n >= -9223372036854775808.0 && n < 9223372036854775808.0) {
        int64_t v = (int64_t)n;
        if (v >= 0) {
          if (v < 128) luaL_addchar(b, (char)v);
          else if (v <= 0xff) { luaL_addchar(b, (char)0xcc); mp_be(b, v, 1); }
          else if (v <= 0xffff) { luaL_addchar(b, (char)0xcd); mp_be(b, v, 2); }
          else if (v <= 0xffffffffLL) { luaL_addchar(b, (char)0xce); mp_be(b, v, 4); }
          else { luaL_addchar(b, (char)0xcf); mp_be(b, (uint64_t)v, 8); }
        } else {
          if (v >= -32) luaL_addchar(b, (char)(int8_t)v);
          else if (v >= -128) { luaL_addchar(b, (char)0xd0); mp_be(b, (uint64_t)v, 1); }
          else if (v >= -32768) { luaL_addchar(b, (char)0xd1); mp_be(b, (uint64_t)v, 2); }
          else if (v >= -2147483648LL) { luaL_addchar(b, (char)0xd2); mp_be(b, (uint64_t)v, 4); }
          else { luaL_addchar(b, (char)0xd3); mp_be(b, (uint64_t)v, 8); }
        }
      } else {
        float f = (float)n;
        if ((double)f == n) {
          uint32_t u; memcpy(&u, &f, 4);
          luaL_addchar(b, (char)0xca); mp_be(b, u, 4);
        } else {
          uint64_t u; memcpy(&u, &n, 8);
          luaL_addchar(b, (char)0xcb); mp_be(b, u, 8);
        }
      }
      return;
    }
    case LUA_TSTRING: {
      size_t n; const char *s = lua_tolstring(L, idx, &n);
      if (n < 32) luaL_addchar(b, (char)(0xa0 | n));
      else if (n <= 0xff) { luaL_addchar(b, (char)0xd9); mp_be(b, n, 1); }
      else if (n <= 0xffff) { luaL_addchar(b, (char)0xda); mp_be(b, n, 2); }
      else { luaL_addchar(b, (char)0xdb); mp_be(b, n, 4); }
      luaL_addlstring(b, s, n);
      return;
    }
    case LUA_TTABLE: {
      if (level >= MP_MAX_NESTING) { luaL_addchar(b, (char)0xc0); return; }
      luaL_checkstack(L, 4, "too deep");
      size_t len;
      if (mp_is_array(L, idx, &len)) {
        mp_encode_len(b, len, 16, 0x90, 0xdc, 0xdd);
        for (size_t i = 1; i <= len; i++) {
          lua_rawgeti(L, idx, (int)i);
          mp_encode(L, b, lua_gettop(L), level + 1);
          lua_pop(L, 1);
        }
      } else {
        size_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) { count++; lua_pop(L, 1); }
        mp_encode_len(b, count, 16, 0x80, 0xde, 0xdf);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
          int top = lua_gettop(L);
          mp_encode(L, b, top - 1, level + 1);
          mp_encode(L, b, top, level + 1);
          lua_pop(L, 1);
        }
      }
      return;
    }
    default: luaL_addchar(b, (char)0xc0); return;
  }
}

/* luaL_Buffer keeps its pieces on the Lua stack; encode values held below it. */
static int mp_pack(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
  /* Each value is encoded through a copy at the top, then concatenated. */
  for (int i = 1; i <= n; i++) {
    luaL_Buffer b;
    lua_pushvalue(L, i);
    int at = lua_gettop(L);
    luaL_buffinit(L, &b);
    mp_encode(L, &b, at, 0);
    luaL_pushresult(&b);
    lua_remove(L, at);
  }
  lua_concat(L, n);
  return 1;
}

typedef struct { const unsigned char *p; size_t len, pos; int err; } Cur;

static uint64_t rd(Cur *c, int n) {
  if (c->pos + n > c->len) { c->err = 1; c->pos = c->len; return 0; }
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | c->p[c->pos + i];
  c->pos += n;
  return v;
}

static void mp_decode(lua_State *L, Cur *c, int depth);

static void mp_decode_str(lua_State *L, Cur *c, size_t n) {
  if (c->pos + n > c->len) { c->err = 1; c->pos = c->len; lua_pushnil(L); return; }
  lua_pushlstring(L, (const char *)c->p + c->pos, n);
  c->pos += n;
}
static void mp_decode_array(lua_State *L, Cur *c, size_t n, int depth) {
  lua_newtable(L);
  for (size_t i = 1; i <= n && !c->err; i++) { mp_decode(L, c, depth + 1); lua_rawseti(L, -2, (int)i); }
}
static void mp_decode_map(lua_State *L, Cur *c, size_t n, int depth) {
  lua_newtable(L);
  for (size_t i = 0; i < n && !c->err; i++) {
    mp_decode(L, c, depth + 1);
    mp_decode(L, c, depth + 1);
    if (lua_isnil(L, -2)) lua_pop(L, 2); else lua_settable(L, -3);
  }
}

static void mp_decode(lua_State *L, Cur *c, int depth) {
  luaL_checkstack(L, 4, "too deep");
  if (c->pos >= c->len) { c->err = 1; lua_pushnil(L); return; }
  unsigned char t = c->p[c->pos++];
  if (t < 0x80) { lua_pushnumber(L, t); return; }
  if (t >= 0xe0) { lua_pushnumber(L, (int8_t)t); return; }
  if ((t & 0xe0) == 0xa0) { mp_decode_str(L, c, t & 0x1f); return; }
  if ((t & 0xf0) == 0x90) { mp_decode_array(L, c, t & 0x0f, depth); return; }
  if ((t & 0xf0) == 0x80) { mp_decode_map(L, c, t & 0x0f, depth); return; }
  switch (t) {
    case 0xc0: lua_pushnil(L); return;
    case 0xc2: lua_pushboolean(L, 0); return;
    case 0xc3: lua_pushboolean(L, 1); return;
    case 0xcc: lua_pushnumber(L, (double)rd(c, 1)); return;
    case 0xcd: lua_pushnumber(L, (double)rd(c, 2)); return;
    case 0xce: lua_pushnumber(L, (double)rd(c, 4)); return;
    case 0xcf: lua_pushnumber(L, (double)rd(c, 8)); return;
    case 0xd0: lua_pushnumber(L, (int8_t)rd(c, 1)); return;
    case 0xd1: lua_pushnumber(L, (int16_t)rd(c, 2)); return;
    case 0xd2: lua_pushnumber(L, (int32_t)rd(c, 4)); return;
    case 0xd3: lua_pushnumber(L, (double)(int64_t)rd(c, 8)); return;
    case 0xca: { uint32_t u = (uint32_t)rd(c, 4); float f; memcpy(&f, &u, 4); lua_pushnumber(L, f); return; }
    case 0xcb: { uint64_t u = rd(c, 8); double d; memcpy(&d, &u, 8); lua_pushnumber(L, d); return; }
    case 0xd9: case 0xc4: mp_decode_str(L, c, rd(c, 1)); return;
    case 0xda: case 0xc5: mp_decode_str(L, c, rd(c, 2)); return;
    case 0xdb: case 0xc6: mp_decode_str(L, c, rd(c, 4)); return;
    case 0xdc: mp_decode_array(L, c, rd(c, 2), depth); return;
    case 0xdd: mp_decode_array(L, c, rd(c, 4), depth); return;
    case 0xde: mp_decode_map(L, c, rd(c, 2), depth); return;
    case 0xdf: mp_decode_map(L, c, rd(c, 4), depth); return;
    default: c->err = 1; lua_pushnil(L); return;
  }
}

/* unpack(s) -> every object in s; unpack_limit(s, limit, offset) and unpack_one(s, offset)
 * -> next offset (-1 at the end) followed by the objects. */
static int mp_unpack_full(lua_State *L, int limit, long offset) {
  size_t len; const char *s = luaL_checklstring(L, 1, &len);
  if (offset < 0 || (size_t)offset > len) return luaL_error(L, "Start offset %ld greater than input length %d.", offset, (int)len);
  Cur c = {(const unsigned char *)s, len, (size_t)offset, 0};
  int base = lua_gettop(L), count = 0;
  while (c.pos < c.len && (limit == 0 || count < limit)) {
    mp_decode(L, &c, 0);
    if (c.err) { lua_settop(L, base); return luaL_error(L, "Missing bytes in input."); }
    count++;
  }
  if (limit == 0) return count;
  lua_pushnumber(L, c.pos >= c.len ? -1 : (double)c.pos);
  lua_insert(L, base + 1);
  return count + 1;
}
static int mp_unpack(lua_State *L) { return mp_unpack_full(L, 0, 0); }
static int mp_unpack_one(lua_State *L) { return mp_unpack_full(L, 1, (long)luaL_optnumber(L, 2, 0)); }
static int mp_unpack_limit(lua_State *L) {
  int limit = (int)luaL_checknumber(L, 2);
  return mp_unpack_full(L, limit <= 0 ? 0x7fffffff : limit, (long)luaL_optnumber(L, 3, 0));
}

int sonic_open_cmsgpack(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, mp_pack); lua_setfield(L, -2, "pack");
  lua_pushcfunction(L, mp_unpack); lua_setfield(L, -2, "unpack");
  lua_pushcfunction(L, mp_unpack_one); lua_setfield(L, -2, "unpack_one");
  lua_pushcfunction(L, mp_unpack_limit); lua_setfield(L, -2, "unpack_limit");
  lua_pushstring(L, "lua-cmsgpack"); lua_setfield(L, -2, "_NAME");
  lua_pushstring(L, "lua-cmsgpack 0.4.0"); lua_setfield(L, -2, "_VERSION");
  return 1;
}

/* ------------------------------------------------------------------ struct */

typedef struct { int little; int maxalign; } Fmt;

static int st_num(const char **f, int def) {
  if (!(**f >= '0' && **f <= '9')) return def;
  int a = 0;
  while (**f >= '0' && **f <= '9' && a < 100000) a = a * 10 + *((*f)++) - '0';
  return a;
}

static size_t st_size(lua_State *L, char opt, const char **f) {
  switch (opt) {
    case 'B': case 'b': return 1;
    case 'H': case 'h': return 2;
    case 'L': case 'l': return 8;
    case 'T': return sizeof(size_t);
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    case 'x': return 1;
    case 'c': return (size_t)st_num(f, 1);
    case 'i': case 'I': {
      int sz = st_num(f, sizeof(int));
      if (sz > 8) luaL_error(L, "integral size %d is larger than limit of %d", sz, 8);
      return (size_t)sz;
    }
    default: return 0;
  }
}

static size_t st_align(size_t len, size_t size, const Fmt *h, char opt) {
  if (opt == 'c' || opt == 's' || size <= 1 || h->maxalign <= 1) return 0;
  size_t a = size < (size_t)h->maxalign ? size : (size_t)h->maxalign;
  return (a - (len & (a - 1))) & (a - 1);
}

static void st_control(lua_State *L, char opt, const char **f, Fmt *h) {
  switch (opt) {
    case ' ': return;
    case '>': h->little = 0; return;
    case '<': h->little = 1; return;
    case '=': h->little = 1; return;
    case '!': {
      int a = st_num(f, 8);
      if (a & (a - 1)) luaL_error(L, "alignment %d is not a power of 2", a);
      h->maxalign = a;
      return;
    }
    default: luaL_error(L, "invalid format option '%c'", opt);
  }
}

static void st_putint(luaL_Buffer *b, uint64_t v, int little, size_t size) {
  char buf[8];
  for (size_t i = 0; i < size; i++) { buf[little ? i : size - 1 - i] = (char)(v & 0xff); v >>= 8; }
  luaL_addlstring(b, buf, size);
}

static int st_pack(lua_State *L) {
  luaL_Buffer b;
  const char *f = luaL_checkstring(L, 1);
  Fmt h = {1, 1};
  int arg = 2;
  size_t total = 0;
  lua_pushnil(L); /* the buffer works above this slot */
  luaL_buffinit(L, &b);
  while (*f) {
    char opt = *f++;
    size_t size = st_size(L, opt, &f);
    size_t pad = st_align(total, size, &h, opt);
    total += pad;
    while (pad-- > 0) luaL_addchar(&b, 0);
    switch (opt) {
      case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I': {
        double n = luaL_checknumber(L, arg++);
        int64_t v = (opt == 'B' || opt == 'H' || opt == 'L' || opt == 'T' || opt == 'I') ? (int64_t)(uint64_t)n : (int64_t)n;
        if (n < 0 && (opt == 'B' || opt == 'H' || opt == 'L' || opt == 'T' || opt == 'I')) v = (int64_t)n;
        st_putint(&b, (uint64_t)v, h.little, size);
        break;
      }
      case 'x': luaL_addchar(&b, 0); break;
      case 'f': { float x = (float)luaL_checknumber(L, arg++); uint32_t u; memcpy(&u, &x, 4); st_putint(&b, u, h.little, 4); break; }
      case 'd': { double x = luaL_checknumber(L, arg++); uint64_t u; memcpy(&u, &x, 8); st_putint(&b, u, h.little, 8); break; }
      case 'c': case 's': {
        size_t l; const char *s = luaL_checklstring(L, arg++, &l);
        if (size == 0) size = l;
        luaL_argcheck(L, l >= size, arg - 1, "string too short");
        luaL_addlstring(&b, s, size);
        if (opt == 's') { luaL_addchar(&b, 0); size++; }
        break;
      }
      default: st_control(L, opt, &f, &h);
    }
    total += size;
  }
  luaL_pushresult(&b);
  return 1;
}

static uint64_t st_getint(const char *s, int little, size_t size) {
  uint64_t v = 0;
  for (size_t i = 0; i < size; i++) v = (v << 8) | (unsigned char)s[little ? size - 1 - i : i];
  return v;
}

static int st_unpack(lua_State *L) {
  Fmt h = {1, 1};
  const char *f = luaL_checkstring(L, 1);
  size_t ld; const char *data = luaL_checklstring(L, 2, &ld);
  size_t pos = (size_t)luaL_optinteger(L, 3, 1) - 1;
  int n = 0;
  luaL_argcheck(L, pos <= ld, 3, "offset must be 1 or greater");
  while (*f) {
    char opt = *f++;
    size_t size = st_size(L, opt, &f);
    pos += st_align(pos, size, &h, opt);
    luaL_argcheck(L, size <= ld && pos <= ld - size, 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");
    switch (opt) {
      case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I': {
        uint64_t v = st_getint(data + pos, h.little, size);
        int issigned = (opt == 'b' || opt == 'h' || opt == 'l' || opt == 'i');
        if (issigned && size < 8 && (v >> (size * 8 - 1)) & 1) v |= ~(uint64_t)0 << (size * 8);
        lua_pushnumber(L, issigned ? (double)(int64_t)v : (double)v);
        n++;
        break;
      }
      case 'x': break;
      case 'f': { uint32_t u = (uint32_t)st_getint(data + pos, h.little, 4); float x; memcpy(&x, &u, 4); lua_pushnumber(L, x); n++; break; }
      case 'd': { uint64_t u = st_getint(data + pos, h.little, 8); double x; memcpy(&x, &u, 8); lua_pushnumber(L, x); n++; break; }
      case 'c':
        if (size == 0) {
          if (n == 0 || !lua_isnumber(L, -1)) luaL_error(L, "format 'c0' needs a previous size");
          size = (size_t)lua_tonumber(L, -1);
          lua_pop(L, 1); n--;
          luaL_argcheck(L, size <= ld && pos <= ld - size, 2, "data string too short");
        }
        lua_pushlstring(L, data + pos, size); n++;
        break;
      case 's': {
        const char *e = memchr(data + pos, 0, ld - pos);
        if (e == NULL) luaL_error(L, "unfinished string in data");
        size = (size_t)(e - (data + pos)) + 1;
        lua_pushlstring(L, data + pos, size - 1); n++;
        break;
      }
      default: st_control(L, opt, &f, &h);
    }
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)pos + 1);
  return n + 1;
}

static int st_size_fn(lua_State *L) {
  Fmt h = {1, 1};
  const char *f = luaL_checkstring(L, 1);
  size_t pos = 0;
  while (*f) {
    char opt = *f++;
    size_t size = st_size(L, opt, &f);
    pos += st_align(pos, size, &h, opt);
    if (opt == 's') luaL_argerror(L, 1, "options 'c0' - 's' have undefined sizes");
    else if (opt == 'c' && size == 0) luaL_argerror(L, 1, "options 'c0' - 's' have undefined sizes");
    if (!strchr("bBhHlLTiIxfdc", opt)) st_control(L, opt, &f, &h);
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

int sonic_open_struct(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, st_pack); lua_setfield(L, -2, "pack");
  lua_pushcfunction(L, st_unpack); lua_setfield(L, -2, "unpack");
  lua_pushcfunction(L, st_size_fn); lua_setfield(L, -2, "size");
  return 1;
}
