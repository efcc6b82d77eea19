/* Optional C tokenizer for auditd lines (the hot path of harness.telemetry.parsers.auditd).
 *
 * parse_line(line) returns (node, stamp, type, fields) exactly as the pure-Python
 * auditd.parse_line would for the common kernel-record shape, or None when the line needs
 * the Python path (non-ASCII text, split EXECVE arguments, single quotes, cut-off values, malformed
 * headers, hex-looking values fromhex would treat specially...). The Python implementation
 * stays the reference: tests/telemetry/parsers/test_auditd_fast.py compares both.
 *
 * Semantics mirrored from auditd.parse_line (fast path):
 *   body (after "): ", spaces stripped) and the ENRICHED part after the first \x1d; when the
 *   enriched part has no '{' it is appended to the body; quotes are dropped; if the text is
 *   exactly "k=v k=v ..." (one '=' more than spaces, no double space) pieces split at ' ' and
 *   '=' are paired in order, else whitespace tokens are split at their first '=' (tokens
 *   without '=' skipped); hex-capable keys not quoted in the body are hex-decoded; an
 *   enriched part with '{' is tokenised like the regex _SLOW_FIELD with findall.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>

/* ---- small-string cache: keys and short values recur on every line ---------------------- */
#define CACHE_SLOTS 8192
#define CACHE_MAXLEN 40
static PyObject *cache[CACHE_SLOTS];

static inline uint64_t
load8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint32_t
load4(const char *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* The bytes of s[0:n] as words, for hashing and comparing without a loop per byte: whole
 * words, then one last (overlapping) word; short strings as two overlapping halves. */
static inline int
same_bytes(const char *a, const char *b, Py_ssize_t n)
{
    if (n >= 8) {
        for (Py_ssize_t i = 0; i + 8 < n; i += 8) {
            if (load8(a + i) != load8(b + i)) return 0;
        }
        return load8(a + n - 8) == load8(b + n - 8);
    }
    if (n >= 4) return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (a[i] != b[i]) return 0;
    }
    return 1;
}

static PyObject *
mkstr(const char *s, Py_ssize_t n)
{
    if (n > CACHE_MAXLEN) {
        return PyUnicode_FromStringAndSize(s, n);
    }
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull, w;
    if (n >= 8) {
        for (Py_ssize_t i = 0; i + 8 < n; i += 8) {
            h = (h ^ load8(s + i)) * 0xff51afd7ed558ccdull;
            h ^= h >> 29;
        }
        w = load8(s + n - 8);
    } else if (n >= 4) {
        w = ((uint64_t)load4(s) << 32) | load4(s + n - 4);
    } else {
        w = 0;
        for (Py_ssize_t i = 0; i < n; i++) w = (w << 8) | (unsigned char)s[i];
    }
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    PyObject **slot = &cache[h & (CACHE_SLOTS - 1)];
    PyObject *o = *slot;
    if (o != NULL && PyUnicode_GET_LENGTH(o) == n && same_bytes((const char *)PyUnicode_DATA(o), s, n)) {
        Py_INCREF(o);
        return o;
    }
    o = PyUnicode_FromStringAndSize(s, n); /* ASCII input: compact ASCII object */
    if (o == NULL) {
        return NULL;
    }
    Py_XSETREF(*slot, o);
    Py_INCREF(o);
    return o;
}

/* Character classes of the tokenizer's loops. */
enum { C_PLAIN = 0, C_DQUOTE, C_SQUOTE, C_EQ, C_SPACE };
static unsigned char CLS[256];

static int
is_space(unsigned char c)
{ /* str.isspace() / re \s on ASCII */
    return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
}

static int
is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
hexval(unsigned char c)
{
    if (c <= '9') return c - '0';
    if (c >= 'a') return c - 'a' + 10;
    return c - 'A' + 10;
}

static const char *HEX_KEYS[] = {"comm", "exe", "name", "cwd", "path", "ocomm", "key", "cmd",
                                 "acct", "proctitle", "data", "grp", NULL};
static PyObject *hex_key_objs[13];
#define PROCTITLE_KEY_INDEX 9
/* Which hex-capable keys the current line set (bit k = HEX_KEYS[k]): only those are looked up. */
static unsigned hex_seen;

static const unsigned char HEX_LENS[] = {4, 3, 4, 3, 4, 5, 3, 3, 4, 9, 4, 3};

static void
note_hex_key(const char *k, Py_ssize_t kn)
{ /* by length first: most keys are none of these (HEX_KEYS order: bit i = HEX_KEYS[i]) */
    int bit = -1;
    switch (kn) {
    case 3:
        if (memcmp(k, "exe", 3) == 0) bit = 1;
        else if (memcmp(k, "cwd", 3) == 0) bit = 3;
        else if (memcmp(k, "key", 3) == 0) bit = 6;
        else if (memcmp(k, "cmd", 3) == 0) bit = 7;
        else if (memcmp(k, "grp", 3) == 0) bit = 11;
        break;
    case 4:
        if (memcmp(k, "comm", 4) == 0) bit = 0;
        else if (memcmp(k, "name", 4) == 0) bit = 2;
        else if (memcmp(k, "path", 4) == 0) bit = 4;
        else if (memcmp(k, "acct", 4) == 0) bit = 8;
        else if (memcmp(k, "data", 4) == 0) bit = 10;
        break;
    case 5:
        if (memcmp(k, "ocomm", 5) == 0) bit = 5;
        break;
    case 9:
        if (memcmp(k, "proctitle", 9) == 0) bit = 9;
        break;
    default:
        break;
    }
    if (bit >= 0) hex_seen |= 1u << bit;
}

static int
set_item(PyObject *d, const char *k, Py_ssize_t kn, const char *v, Py_ssize_t vn)
{
    note_hex_key(k, kn);
    PyObject *key = mkstr(k, kn);
    if (key == NULL) return -1;
    PyObject *val = mkstr(v, vn);
    if (val == NULL) {
        Py_DECREF(key);
        return -1;
    }
    int rc = PyDict_SetItem(d, key, val);
    Py_DECREF(key);
    Py_DECREF(val);
    return rc;
}

/* Tokenise "plain" (quotes already removed) into d. */
static int
plain_fields(PyObject *d, const char *p, Py_ssize_t n, Py_ssize_t eq, Py_ssize_t sp, int dbl)
{ /* eq, sp: '=' and ' ' in p; dbl: p has "  " (counted while p was built) */
    if (eq == sp + 1 && !dbl) {
        /* pieces split at ' ' and '=', paired in order */
        Py_ssize_t start = 0, kstart = 0, klen = 0, i = 0;
        int want_key = 1;
        for (;;) {
            while (i < n && CLS[(unsigned char)p[i]] < C_EQ) i++; /* to the next ' ' or '=' */
            if (want_key) {
                kstart = start;
                klen = i - start;
            } else if (set_item(d, p + kstart, klen, p + start, i - start) < 0) {
                return -1;
            }
            if (i >= n) break;
            want_key = !want_key;
            start = ++i;
        }
        return 0;
    }
    /* whitespace tokens, split at the first '=' */
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && is_space((unsigned char)p[i])) i++;
        if (i >= n) break;
        Py_ssize_t s = i;
        while (i < n && !is_space((unsigned char)p[i])) i++;
        const char *e = memchr(p + s, '=', (size_t)(i - s));
        if (e != NULL) {
            Py_ssize_t kl = e - (p + s);
            if (set_item(d, p + s, kl, e + 1, i - s - kl - 1) < 0) return -1;
        }
    }
    return 0;
}

/* Emulate re.findall(r"([^\s=]+)=('[^']*'|\"[^\"]*\"|\{[^}]*\}|\S*)") on an enriched part and
 * store value[1:-1] when it starts with '"' or '{' and is longer than 1. */
static int
brace_fields(PyObject *d, const char *p, Py_ssize_t n)
{
    Py_ssize_t pos = 0;
    while (pos < n) {
        unsigned char c = (unsigned char)p[pos];
        if (is_space(c) || c == '=') {
            pos++;
            continue;
        }
        Py_ssize_t ks = pos, ke = pos;
        while (ke < n && !is_space((unsigned char)p[ke]) && p[ke] != '=') ke++;
        if (ke >= n || p[ke] != '=') {
            pos++; /* no match here: findall retries one character later */
            continue;
        }
        Py_ssize_t vs = ke + 1, ve = vs;
        const char *close;
        if (vs < n && p[vs] == '\'' && (close = memchr(p + vs + 1, '\'', (size_t)(n - vs - 1))) != NULL) {
            ve = close - p + 1;
        } else if (vs < n && p[vs] == '"' && (close = memchr(p + vs + 1, '"', (size_t)(n - vs - 1))) != NULL) {
            ve = close - p + 1;
        } else if (vs < n && p[vs] == '{' && (close = memchr(p + vs + 1, '}', (size_t)(n - vs - 1))) != NULL) {
            ve = close - p + 1;
        } else {
            while (ve < n && !is_space((unsigned char)p[ve])) ve++;
        }
        Py_ssize_t vl = ve - vs;
        int rc;
        if (vl > 1 && (p[vs] == '"' || p[vs] == '{')) {
            rc = set_item(d, p + ks, ke - ks, p + vs + 1, vl - 2);
        } else {
            rc = set_item(d, p + ks, ke - ks, p + vs, vl);
        }
        if (rc < 0) return -1;
        pos = ve > pos ? ve : pos + 1;
    }
    return 0;
}

/* Which hex-capable keys occur quoted in the body, as the Python path's key + '="' in body
 * test decides (bit k = HEX_KEYS[k]); note_quoted is called at each '="' with the '=' index. */
static unsigned quoted_seen;

static void
note_quoted(const char *body, Py_ssize_t eq)
{
    for (int k = 0; HEX_KEYS[k] != NULL; k++) {
        Py_ssize_t kl = HEX_LENS[k];
        if (eq >= kl && memcmp(body + eq - kl, HEX_KEYS[k], (size_t)kl) == 0) quoted_seen |= 1u << k;
    }
}

/* ---- record dicts from templates -------------------------------------------------------
 * Kernel records of one type nearly always carry the same keys in the same order. The dict of
 * a "k=v k=v ..." line is built once the slow way ({"type": T} then each pair), and a copy of it
 * is kept with its key objects; a later line of that type with the same keys gets a copy of
 * that template with every value replaced in order: the same dict (keys, order, values), without
 * a string lookup per key or an insertion per field. Lines with repeated keys (or a key named
 * "type") are never templates: their dict has fewer entries than pairs. */
#define TPL_SLOTS 64
#define TPL_MAXPAIRS 96
static PyObject *type_key; /* "type" (interned at module init) */
typedef struct {
    PyObject *rtype, *dict, *keys[TPL_MAXPAIRS];
    Py_ssize_t npairs;
    unsigned hex_seen;
} Template;
static Template templates[TPL_SLOTS];

static PyObject *
new_fields(Py_ssize_t n)
{
#if PY_VERSION_HEX < 0x030D0000
    return _PyDict_NewPresized(n); /* SYSCALL records have ~40 fields: no regrowth */
#else
    return PyDict_New();
#endif
}

static void
template_clear(Template *t)
{
    Py_CLEAR(t->rtype);
    Py_CLEAR(t->dict);
    for (Py_ssize_t i = 0; i < t->npairs; i++) Py_CLEAR(t->keys[i]);
    t->npairs = 0;
}

/* The dict {"type": rtype, k1: v1, ...} of the pieces of p split at ' ' and '=' (npairs pairs). */
static PyObject *
template_fields(PyObject *rtype, const char *p, Py_ssize_t n, Py_ssize_t npairs)
{
    Py_ssize_t pos[2 * TPL_MAXPAIRS + 1], i = 0, k = 0;
    pos[k++] = 0; /* piece j runs from pos[j] to pos[j + 1] - 1 */
    for (;;) {
        while (i < n && CLS[(unsigned char)p[i]] < C_EQ) i++;
        if (i >= n) break;
        pos[k++] = ++i;
    }
    pos[k] = n + 1; /* k == 2 * npairs pieces (the caller checked the counts) */
    const char *rt = PyUnicode_DATA(rtype);
    Py_ssize_t rn = PyUnicode_GET_LENGTH(rtype);
    Template *t = &templates[(rn * 31 + (unsigned char)rt[0] * 7 + (unsigned char)rt[rn - 1]) & (TPL_SLOTS - 1)];
    int hit = t->dict != NULL && t->npairs == npairs && PyUnicode_GET_LENGTH(t->rtype) == rn &&
              same_bytes(PyUnicode_DATA(t->rtype), rt, rn);
    for (Py_ssize_t j = 0; hit && j < npairs; j++) {
        Py_ssize_t ks = pos[2 * j], kl = pos[2 * j + 1] - 1 - ks;
        PyObject *key = t->keys[j];
        hit = PyUnicode_GET_LENGTH(key) == kl && same_bytes(PyUnicode_DATA(key), p + ks, kl);
    }
    PyObject *d;
    if (hit) {
        d = PyDict_Copy(t->dict);
        if (d == NULL) return NULL;
        for (Py_ssize_t j = 0; j < npairs; j++) {
            Py_ssize_t vs = pos[2 * j + 1], vl = pos[2 * j + 2] - 1 - vs;
            PyObject *val = mkstr(p + vs, vl);
            if (val == NULL || PyDict_SetItem(d, t->keys[j], val) < 0) {
                Py_XDECREF(val);
                Py_DECREF(d);
                return NULL;
            }
            Py_DECREF(val);
        }
        hex_seen = t->hex_seen;
        return d;
    }
    d = new_fields(npairs + 1);
    hex_seen = 0;
    if (d == NULL || PyDict_SetItem(d, type_key, rtype) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    for (Py_ssize_t j = 0; j < npairs; j++) {
        Py_ssize_t ks = pos[2 * j], kl = pos[2 * j + 1] - 1 - ks;
        Py_ssize_t vs = pos[2 * j + 1], vl = pos[2 * j + 2] - 1 - vs;
        if (set_item(d, p + ks, kl, p + vs, vl) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    if (PyDict_GET_SIZE(d) == npairs + 1) { /* every key once: a template for the next lines */
        template_clear(t);
        t->dict = PyDict_Copy(d);
        if (t->dict == NULL) {
            Py_DECREF(d);
            return NULL;
        }
        t->rtype = Py_NewRef(rtype);
        Py_ssize_t it = 0, j = -1;
        PyObject *key, *val;
        while (PyDict_Next(t->dict, &it, &key, &val)) { /* insertion order: "type", then the pairs */
            if (j >= 0) t->keys[j] = Py_NewRef(key);
            j++;
        }
        t->npairs = npairs;
        t->hex_seen = hex_seen;
    }
    return d;
}

/* Returns 1 done, 0 = needs the Python path, -1 error. */
static int
decode_hex_keys(PyObject *d, const char *body, Py_ssize_t bn, int proctitle_record)
{
    for (int k = 0; HEX_KEYS[k] != NULL; k++) {
        if (!(hex_seen & (1u << k))) continue; /* not a key of this line */
        PyObject *v = PyDict_GetItemWithError(d, hex_key_objs[k]);
        if (v == NULL) {
            if (PyErr_Occurred()) return -1;
            continue;
        }
        if (quoted_seen & (1u << k)) continue; /* quoted in the body: literal */
        Py_ssize_t vn = PyUnicode_GET_LENGTH(v);
        const unsigned char *s = PyUnicode_DATA(v); /* ASCII (from this line) */
        if (vn == 0 || vn % 2 || !is_hex(s[0])) continue;
        for (Py_ssize_t i = 0; i < vn; i++) {
            if (!is_hex(s[i])) return 0; /* fromhex has its own rules (whitespace, errors) */
        }
        Py_ssize_t bl = vn / 2;
        char stackbuf[512];
        char *buf = bl <= (Py_ssize_t)sizeof stackbuf ? stackbuf : PyMem_Malloc((size_t)bl);
        if (buf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        unsigned char high = 0;
        for (Py_ssize_t i = 0; i < bl; i++) {
            buf[i] = (char)((hexval(s[2 * i]) << 4) | hexval(s[2 * i + 1]));
            high |= (unsigned char)buf[i];
        }
        if (proctitle_record && k == PROCTITLE_KEY_INDEX) {
            /* _decode_record_lazy's replace("\x00", " ").rstrip(" ") done on the bytes: NUL and
             * space are single ASCII bytes, so decoding commutes with it (and a decoded
             * character ends in a space only when its byte was one) */
            for (Py_ssize_t i = 0; i < bl; i++) {
                if (buf[i] == 0) buf[i] = ' ';
            }
            while (bl > 0 && buf[bl - 1] == ' ') bl--;
        }
        PyObject *txt;
        if (!(high & 0x80)) { /* ASCII: the UTF-8 decode is a copy */
            txt = PyUnicode_New(bl, 127);
            if (txt != NULL) memcpy(PyUnicode_DATA(txt), buf, (size_t)bl);
        } else {
            txt = PyUnicode_DecodeUTF8(buf, bl, "backslashreplace");
        }
        if (buf != stackbuf) PyMem_Free(buf);
        if (txt == NULL) return -1;
        int rc = PyDict_SetItem(d, hex_key_objs[k], txt);
        Py_DECREF(txt);
        if (rc < 0) return -1;
    }
    return 1;
}

static PyObject *type_key, *syscall_key, *SYSCALL_key, *arch_key, *saddr_key, *SADDR_key, *proctitle_key,
    *x86_64_str, *nul_str, *space_str;
static PyObject *syscall_names; /* dict: x86_64 syscall number (str) -> name, set by configure() */
static PyObject *sockaddr_decoder; /* callable: saddr hex -> dict, set by configure() */
static PyObject *sockaddr_cache;   /* the decoder's own cache (saddr hex -> dict), read here first */

static int
type_is(const char *t, Py_ssize_t n, const char *lit)
{
    return (size_t)n == strlen(lit) && memcmp(t, lit, (size_t)n) == 0;
}

/* auditd._decode_record_lazy for the C path: SOCKADDR decoded, SYSCALL name added when not
 * enriched, PROCTITLE NULs turned into spaces. */
static int
decode_lazy(PyObject *d, const char *rtype, Py_ssize_t rn)
{
    if (type_is(rtype, rn, "SOCKADDR")) {
        PyObject *saddr = PyDict_GetItemWithError(d, saddr_key);
        if (saddr == NULL) return PyErr_Occurred() ? -1 : 0;
        if (!PyUnicode_Check(saddr) || sockaddr_decoder == NULL) return 0;
        PyObject *dec = sockaddr_cache != NULL ? PyDict_GetItemWithError(sockaddr_cache, saddr) : NULL;
        if (dec != NULL) {
            Py_INCREF(dec); /* what the decoder returns for a cached blob */
        } else {
            if (PyErr_Occurred()) return -1;
            dec = PyObject_CallOneArg(sockaddr_decoder, saddr);
            if (dec == NULL) return -1;
        }
        if (!PyDict_Check(dec)) {
            Py_DECREF(dec);
            PyErr_SetString(PyExc_TypeError, "sockaddr decoder must return a dict");
            return -1;
        }
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (PyDict_Next(dec, &pos, &k, &v)) {
            if (PyDict_SetDefault(d, k, v) == NULL) {
                Py_DECREF(dec);
                return -1;
            }
        }
        Py_DECREF(dec);
        if (PyDict_DelItem(d, SADDR_key) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) return -1;
            PyErr_Clear();
        }
        return 0;
    }
    if (type_is(rtype, rn, "SYSCALL")) {
        int has = PyDict_Contains(d, SYSCALL_key);
        if (has != 0 || syscall_names == NULL) return has < 0 ? -1 : 0;
        PyObject *nr = PyDict_GetItemWithError(d, syscall_key);
        if (nr == NULL) return PyErr_Occurred() ? -1 : 0; /* .get("syscall", "") finds no name */
        PyObject *name = PyDict_GetItemWithError(syscall_names, nr);
        if (name == NULL) return PyErr_Occurred() ? -1 : 0;
        PyObject *arch = PyDict_GetItemWithError(d, arch_key);
        if (arch == NULL && PyErr_Occurred()) return -1;
        if (arch != NULL) {
            int eq = PyObject_RichCompareBool(arch, x86_64_str, Py_EQ);
            if (eq <= 0) return eq;
        }
        return PyDict_SetItem(d, SYSCALL_key, name);
    }
    if (type_is(rtype, rn, "PROCTITLE")) {
        PyObject *t = PyDict_GetItemWithError(d, proctitle_key);
        if (t == NULL) return PyErr_Occurred() ? -1 : 0;
        if (!PyUnicode_Check(t)) return 0;
        Py_ssize_t tn = PyUnicode_GET_LENGTH(t);
        if (PyUnicode_FindChar(t, 0, 0, tn, 1) == -1 && (tn == 0 || PyUnicode_READ_CHAR(t, tn - 1) != ' ')) {
            return 0;
        }
        PyObject *r = PyUnicode_Replace(t, nul_str, space_str, -1);
        if (r == NULL) return -1;
        PyObject *s = PyObject_CallMethod(r, "rstrip", "O", space_str);
        Py_DECREF(r);
        if (s == NULL) return -1;
        int rc = PyDict_SetItem(d, proctitle_key, s);
        Py_DECREF(s);
        return rc;
    }
    return 0;
}

static PyObject *
configure(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *names, *decoder, *cache;
    if (!PyArg_ParseTuple(args, "O!OO!:configure", &PyDict_Type, &names, &decoder, &PyDict_Type, &cache)) return NULL;
    Py_INCREF(cache);
    Py_XSETREF(sockaddr_cache, cache);
    Py_INCREF(names);
    Py_XSETREF(syscall_names, names);
    Py_INCREF(decoder);
    Py_XSETREF(sockaddr_decoder, decoder);
    Py_RETURN_NONE;
}

/* _maybe_hex for an EXECVE argument: even-length all-hex text decoded as UTF-8 with
 * backslashreplace, anything else kept as it is. New ref. */
static PyObject *
maybe_hex(const char *s, Py_ssize_t n)
{
    if (n == 0 || n % 2 || !is_hex((unsigned char)s[0])) return mkstr(s, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!is_hex((unsigned char)s[i])) return mkstr(s, n); /* fromhex would fail: kept */
    }
    Py_ssize_t bl = n / 2;
    char stackbuf[512];
    char *buf = bl <= (Py_ssize_t)sizeof stackbuf ? stackbuf : PyMem_Malloc((size_t)bl);
    if (buf == NULL) return PyErr_NoMemory();
    unsigned char high = 0;
    for (Py_ssize_t i = 0; i < bl; i++) {
        buf[i] = (char)((hexval((unsigned char)s[2 * i]) << 4) | hexval((unsigned char)s[2 * i + 1]));
        high |= (unsigned char)buf[i];
    }
    PyObject *txt;
    if (!(high & 0x80)) {
        txt = PyUnicode_New(bl, 127);
        if (txt != NULL) memcpy(PyUnicode_DATA(txt), buf, (size_t)bl);
    } else {
        txt = PyUnicode_DecodeUTF8(buf, bl, "backslashreplace");
    }
    if (buf != stackbuf) PyMem_Free(buf);
    return txt;
}

/* auditd._execve_fields for an EXECVE body without split arguments ('[' sends the line to
 * Python): whitespace tokens split at their first '='; a value in double quotes is literal
 * (an unterminated one loses only its opening quote); aN arguments that are not quoted are
 * hex-decoded when they are hex; aN_len is dropped. 0 ok, -1 error. */
static int
execve_fields(PyObject *d, const char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && is_space((unsigned char)p[i])) i++;
        if (i >= n) break;
        Py_ssize_t s = i;
        while (i < n && !is_space((unsigned char)p[i])) i++;
        const char *e = memchr(p + s, '=', (size_t)(i - s));
        if (e == NULL) continue;
        const char *k = p + s, *v = e + 1;
        Py_ssize_t kl = e - k, vl = p + i - v;
        int literal = 0;
        if (vl > 0 && v[0] == '"') {
            literal = 1;
            if (vl > 1 && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            } else {
                v++;
                vl--;
            }
        }
        PyObject *key = mkstr(k, kl), *val;
        if (key == NULL) return -1;
        if (kl >= 2 && k[0] == 'a' && k[1] >= '0' && k[1] <= '9') {
            if (kl >= 4 && memcmp(k + kl - 4, "_len", 4) == 0) {
                Py_DECREF(key);
                continue;
            }
            val = literal ? mkstr(v, vl) : maybe_hex(v, vl);
        } else {
            val = mkstr(v, vl);
        }
        if (val == NULL) {
            Py_DECREF(key);
            return -1;
        }
        int rc = PyDict_SetItem(d, key, val);
        Py_DECREF(key);
        Py_DECREF(val);
        if (rc < 0) return -1;
    }
    return 0;
}

static PyObject *
make_result(const char *node, Py_ssize_t node_len, const char *stamp, Py_ssize_t stamp_len, PyObject *rtype_o,
            PyObject *fields)
{ /* (node, stamp, type, fields) */
    PyObject *node_o, *stamp_o, *result;
    if (node != NULL) {
        node_o = mkstr(node, node_len);
        if (node_o == NULL) return NULL;
    } else {
        node_o = Py_None;
        Py_INCREF(node_o);
    }
    stamp_o = mkstr(stamp, stamp_len); /* shared by the lines of an event: hash computed once */
    if (stamp_o == NULL) {
        Py_DECREF(node_o);
        return NULL;
    }
    result = PyTuple_New(4);
    if (result == NULL) {
        Py_DECREF(node_o);
        Py_DECREF(stamp_o);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, node_o);
    PyTuple_SET_ITEM(result, 1, stamp_o);
    Py_INCREF(rtype_o);
    PyTuple_SET_ITEM(result, 2, rtype_o);
    Py_INCREF(fields);
    PyTuple_SET_ITEM(result, 3, fields);
    return result;
}

/* The tokenizer on an ASCII line (no line end): the 4-tuple, Py_None (Python path) or NULL. */
static PyObject *
parse_ascii(const char *line, Py_ssize_t n)
{
    const char *node = NULL;
    Py_ssize_t node_len = 0;
    if (n >= 5 && memcmp(line, "node=", 5) == 0) {
        const char *sp = memchr(line, ' ', (size_t)n);
        if (sp == NULL) Py_RETURN_NONE;
        node = line + 5;
        node_len = sp - node;
        n -= sp + 1 - line;
        line = sp + 1;
    }
    if (n < 5 || memcmp(line, "type=", 5) != 0) Py_RETURN_NONE;
    const char *sp = memchr(line + 5, ' ', (size_t)(n - 5));
    if (sp == NULL) Py_RETURN_NONE;
    Py_ssize_t spi = sp - line;
    if (spi + 11 > n || memcmp(line + spi + 1, "msg=audit(", 10) != 0) Py_RETURN_NONE;
    if (spi + 11 >= n) Py_RETURN_NONE;
    const char *close = memchr(line + spi + 11, ')', (size_t)(n - spi - 11));
    if (close == NULL) Py_RETURN_NONE;
    const char *stamp = line + spi + 11;
    Py_ssize_t stamp_len = close - stamp;
    if (memchr(stamp, ':', (size_t)stamp_len) == NULL) Py_RETURN_NONE;
    const char *rtype = line + 5;
    Py_ssize_t rtype_len = spi - 5;
    Py_ssize_t bi = (close - line) + 2;
    if (bi > n) bi = n;
    while (bi < n && line[bi] == ' ') bi++;
    const char *body = line + bi;
    Py_ssize_t blen = n - bi;
    if (rtype_len == 6 && memcmp(rtype, "EXECVE", 6) == 0) {
        /* the common EXECVE shape; split arguments, enriched parts and cut values go to Python */
        Py_ssize_t quotes = 0;
        for (Py_ssize_t i = 0; i < blen; i++) {
            char c = body[i];
            if (c == '"') quotes++;
            else if (c == '[' || c == 0x1d) Py_RETURN_NONE;
        }
        if (quotes % 2) Py_RETURN_NONE;
        PyObject *rtype_o = mkstr(rtype, rtype_len), *fields = PyDict_New(), *result = NULL;
        if (rtype_o != NULL && fields != NULL && PyDict_SetItem(fields, type_key, rtype_o) == 0 &&
            execve_fields(fields, body, blen) == 0 && PyDict_SetItem(fields, type_key, rtype_o) == 0) {
            result = make_result(node, node_len, stamp, stamp_len, rtype_o, fields);
        }
        Py_XDECREF(rtype_o);
        Py_XDECREF(fields);
        return result;
    }
    const char *gs = memchr(body, 0x1d, (size_t)blen);
    const char *enr = NULL;
    Py_ssize_t elen = 0;
    if (gs != NULL) {
        enr = gs + 1;
        elen = body + blen - enr;
        blen = gs - body;
    }
    Py_ssize_t q = 0;
    int brace = 0;
    if (enr != NULL) {
        for (Py_ssize_t i = 0; i < elen; i++) {
            if (enr[i] == '"') q++;
            else if (enr[i] == '{') brace = 1;
        }
        if (q % 2) Py_RETURN_NONE; /* cut-off enriched value: Python path counts it */
    }
    /* plain = (body [+ " " + enriched]) without quotes; '=', ' ' and "  " counted on the way */
    int merge = enr != NULL && elen > 0 && !brace;
    Py_ssize_t cap = blen + (merge ? elen + 1 : 0);
    char stackbuf[4096];
    char *plain = cap <= (Py_ssize_t)sizeof stackbuf ? stackbuf : PyMem_Malloc((size_t)cap + 1);
    if (plain == NULL) return PyErr_NoMemory();
    Py_ssize_t pl = 0, bq = 0, eqc = 0, spc = 0;
    int dbl = 0, prev_space = 0; /* was the last character written to plain a space? */
    quoted_seen = 0;
    for (Py_ssize_t i = 0; i < blen; i++) {
        unsigned char c = (unsigned char)body[i];
        while (CLS[c] == C_PLAIN) { /* the run up to the next quote, '=' or space */
            plain[pl++] = (char)c;
            prev_space = 0;
            if (++i == blen) goto body_done;
            c = (unsigned char)body[i];
        }
        switch (CLS[c]) {
        case C_DQUOTE:
            bq++;
            if (i > 0 && body[i - 1] == '=') note_quoted(body, i - 1);
            continue;
        case C_SQUOTE:
            if (plain != stackbuf) PyMem_Free(plain);
            Py_RETURN_NONE; /* user-space msg='...' records: Python path */
        case C_EQ:
            eqc++;
            prev_space = 0;
            break;
        default: /* C_SPACE */
            spc++;
            dbl |= prev_space;
            prev_space = 1;
            break;
        }
        plain[pl++] = (char)c;
    }
body_done:
    if (enr == NULL && bq % 2) { /* cut mid-value */
        if (plain != stackbuf) PyMem_Free(plain);
        Py_RETURN_NONE;
    }
    if (merge) {
        spc++;
        dbl |= prev_space;
        plain[pl++] = ' ';
        prev_space = 1;
        for (Py_ssize_t i = 0; i < elen; i++) {
            unsigned char c = (unsigned char)enr[i];
            switch (CLS[c]) {
            case C_DQUOTE:
                continue;
            case C_EQ:
                eqc++;
                prev_space = 0;
                break;
            case C_SPACE:
                spc++;
                dbl |= prev_space;
                prev_space = 1;
                break;
            default: /* plain, and a single quote (kept, as the Python path keeps it) */
                prev_space = 0;
                break;
            }
            plain[pl++] = (char)c;
        }
    }
    PyObject *fields = NULL, *rtype_o = NULL, *result = NULL;
    rtype_o = mkstr(rtype, rtype_len);
    if (rtype_o == NULL) goto done;
    if (eqc == spc + 1 && !dbl && eqc <= TPL_MAXPAIRS) {
        fields = template_fields(rtype_o, plain, pl, eqc);
        if (fields == NULL) goto done;
    } else {
        fields = new_fields(eqc + 1);
        hex_seen = 0;
        if (fields == NULL || PyDict_SetItem(fields, type_key, rtype_o) < 0 ||
            plain_fields(fields, plain, pl, eqc, spc, dbl) < 0) {
            goto done;
        }
    }
    int rc = decode_hex_keys(fields, body, blen, type_is(rtype, rtype_len, "PROCTITLE"));
    if (rc < 0) goto done;
    if (rc == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (brace && elen > 0 && brace_fields(fields, enr, elen) < 0) goto done;
    if (PyDict_SetItem(fields, type_key, rtype_o) < 0) goto done;
    if (decode_lazy(fields, rtype, rtype_len) < 0) goto done;
    result = make_result(node, node_len, stamp, stamp_len, rtype_o, fields);
done:
    if (plain != stackbuf) PyMem_Free(plain);
    Py_XDECREF(fields);
    Py_XDECREF(rtype_o);
    return result;
}


/* ---- Grouper: auditd.parse's event grouping loop (same rules, see auditd.parse) ---------- */
typedef struct {
    PyObject_HEAD
    PyObject *node, *stamp, *records;
    Py_ssize_t line;
    int complete, execve_parts, split_args;
} EvObject;

static void
ev_dealloc(EvObject *e)
{
    Py_XDECREF(e->node);
    Py_XDECREF(e->stamp);
    Py_XDECREF(e->records);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static PyTypeObject EvType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_auditd_fast._Event",
    .tp_basicsize = sizeof(EvObject),
    .tp_dealloc = (destructor)ev_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

typedef struct {
    PyObject_HEAD
    PyObject *it, *slow, *bad, *lazy, *open, *out;
    Py_ssize_t out_pos, window, max_records, n, read, truncated;
    int exhausted;
    /* The rest of a line whose new event pushed older ones out: the Python loop yields those
     * first and only then appends the record (and counts it), so this waits for the queue. */
    PyObject *p_ev, *p_rtype, *p_fields, *p_stamp;
    int p_slow;
    /* Reading a binary file itself (raw is not NULL): lines as open_lines gives them. */
    PyObject *raw;
    char *buf;
    Py_ssize_t cap, start, end, block, max_chars;
    int eof, skipping;
} GrouperObject;

static PyObject *eoe_str, *execve_str, *trunc_key, *rstrip_chars;

static int
gr_traverse(GrouperObject *g, visitproc visit, void *arg)
{
    Py_VISIT(g->it);
    Py_VISIT(g->slow);
    Py_VISIT(g->bad);
    Py_VISIT(g->lazy);
    Py_VISIT(g->open);
    Py_VISIT(g->out);
    Py_VISIT(g->p_ev);
    Py_VISIT(g->p_rtype);
    Py_VISIT(g->p_fields);
    Py_VISIT(g->p_stamp);
    Py_VISIT(g->raw);
    return 0;
}

static int
gr_clear(GrouperObject *g)
{
    Py_CLEAR(g->it);
    Py_CLEAR(g->slow);
    Py_CLEAR(g->bad);
    Py_CLEAR(g->lazy);
    Py_CLEAR(g->open);
    Py_CLEAR(g->out);
    Py_CLEAR(g->p_ev);
    Py_CLEAR(g->p_rtype);
    Py_CLEAR(g->p_fields);
    Py_CLEAR(g->p_stamp);
    Py_CLEAR(g->raw);
    return 0;
}

static void
gr_dealloc(GrouperObject *g)
{
    PyObject_GC_UnTrack(g);
    gr_clear(g);
    PyMem_Free(g->buf);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

static PyObject *
gr_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *lines, *slow, *bad, *lazy, *raw = Py_None;
    Py_ssize_t window, max_records, block = 1 << 20, max_chars = 1 << 20;
    static char *kwlist[] = {"lines", "slow", "bad", "lazy", "window", "max_records", "raw", "block", "max_chars",
                             NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOnn|$Onn:Grouper", kwlist, &lines, &slow, &bad, &lazy, &window,
                                     &max_records, &raw, &block, &max_chars)) {
        return NULL;
    }
    if (raw != Py_None && (block < 1 || max_chars < 1)) {
        PyErr_SetString(PyExc_ValueError, "block and max_chars must be positive");
        return NULL;
    }
    GrouperObject *g = (GrouperObject *)type->tp_alloc(type, 0);
    if (g == NULL) return NULL;
    g->it = raw == Py_None ? PyObject_GetIter(lines) : (Py_INCREF(Py_None), Py_None);
    g->open = PyDict_New();
    g->out = PyList_New(0);
    if (g->it == NULL || g->open == NULL || g->out == NULL) {
        Py_DECREF(g);
        return NULL;
    }
    if (raw != Py_None) {
        Py_INCREF(raw);
        g->raw = raw;
        g->block = block;
        g->max_chars = max_chars;
    }
    Py_INCREF(slow);
    g->slow = slow;
    Py_INCREF(bad);
    g->bad = bad;
    Py_INCREF(lazy);
    g->lazy = lazy;
    g->window = window;
    g->max_records = max_records;
    return (PyObject *)g;
}

/* Move an event to the output queue as (node, stamp, line, records, execve_parts, split_args). */
static int
emit(GrouperObject *g, EvObject *e)
{
    PyObject *t = Py_BuildValue("(OOnOii)", e->node, e->stamp, e->line, e->records, e->execve_parts, e->split_args);
    if (t == NULL) return -1;
    int rc = PyList_Append(g->out, t);
    Py_DECREF(t);
    return rc;
}

/* Pop the oldest open event; if only_complete, only when it is complete. 1 popped, 0 not, -1 error. */
static int
pop_head(GrouperObject *g, int only_complete)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    if (!PyDict_Next(g->open, &pos, &k, &v)) return 0;
    EvObject *e = (EvObject *)v;
    if (only_complete && !e->complete) return 0;
    Py_INCREF(k);
    Py_INCREF(v);
    int rc = PyDict_DelItem(g->open, k);
    if (rc == 0) rc = emit(g, e);
    Py_DECREF(k);
    Py_DECREF(v);
    return rc < 0 ? -1 : 1;
}

static int
flush_complete(GrouperObject *g)
{
    int rc;
    while ((rc = pop_head(g, 1)) == 1) {
    }
    return rc;
}

static PyObject *
parse_line(PyObject *Py_UNUSED(self), PyObject *arg)
{
    if (!PyUnicode_Check(arg) || !PyUnicode_IS_ASCII(arg)) Py_RETURN_NONE;
    return parse_ascii((const char *)PyUnicode_DATA(arg), PyUnicode_GET_LENGTH(arg));
}
static int finish_line(GrouperObject *g, EvObject *ev, PyObject *rtype, PyObject *fields, PyObject *stamp, int slow);

static int feed_parsed(GrouperObject *g, PyObject *line, const char *text, Py_ssize_t len);

/* One input line (reference: the loop body of auditd.parse). 0 ok, -1 error. */
static int
feed(GrouperObject *g, PyObject *line)
{
    g->n++;
    PyObject *owned = NULL;
    if (PyUnicode_Check(line)) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(line);
        if (len > 0) {
            Py_UCS4 last = PyUnicode_READ_CHAR(line, len - 1);
            if (last == '\n' || last == '\r') {
                owned = PyObject_CallMethod(line, "rstrip", "O", rstrip_chars);
                if (owned == NULL) return -1;
                line = owned;
                len = PyUnicode_GET_LENGTH(line);
            }
        }
        if (len == 0) {
            Py_XDECREF(owned);
            return 0;
        }
    } else {
        int t = PyObject_IsTrue(line);
        if (t <= 0) return t;
    }
    int rc = feed_parsed(g, line, NULL, 0);
    Py_XDECREF(owned);
    return rc;
}

/* A non-blank line, as a str (line) or, when line is NULL, as ASCII bytes (text, len). */
static int
feed_parsed(GrouperObject *g, PyObject *line, const char *text, Py_ssize_t len)
{
    g->read++;
    int slow = 0, rc = -1;
    PyObject *parsed = line != NULL ? parse_line(NULL, line) : parse_ascii(text, len), *key = NULL;
    PyObject *made = NULL; /* the str of an ASCII line the Python path needs */
    EvObject *ev = NULL;   /* strong reference while this line is handled */
    if (parsed == NULL) goto done;
    if (parsed == Py_None) {
        Py_DECREF(parsed);
        slow = 1;
        if (line == NULL) {
            line = made = PyUnicode_DecodeASCII(text, len, "strict");
            if (line == NULL) {
                parsed = NULL;
                goto done;
            }
        }
        parsed = PyObject_CallFunction(g->slow, "On", line, g->n);
        if (parsed == NULL) goto done;
        if (parsed == Py_None) { /* counted as unparseable by the callback */
            rc = 0;
            goto done;
        }
        if (!PyTuple_Check(parsed) || PyTuple_GET_SIZE(parsed) != 4) {
            PyErr_SetString(PyExc_TypeError, "slow parser must return a 4-tuple or None");
            goto done;
        }
    }
    PyObject *node = PyTuple_GET_ITEM(parsed, 0), *stamp = PyTuple_GET_ITEM(parsed, 1);
    PyObject *rtype = PyTuple_GET_ITEM(parsed, 2), *fields = PyTuple_GET_ITEM(parsed, 3);
    if (node == Py_None) {
        key = stamp;
        Py_INCREF(key);
    } else {
        key = PyUnicode_FromFormat("%S/%S", node, stamp);
        if (key == NULL) goto done;
    }
    ev = (EvObject *)PyDict_GetItemWithError(g->open, key);
    if (ev != NULL) {
        Py_INCREF(ev);
    } else {
        if (PyErr_Occurred()) goto done;
        ev = PyObject_New(EvObject, &EvType);
        if (ev == NULL) goto done;
        Py_INCREF(node);
        ev->node = node;
        Py_INCREF(stamp);
        ev->stamp = stamp;
        ev->line = g->n;
        ev->complete = ev->execve_parts = ev->split_args = 0;
        ev->records = PyList_New(0);
        if (ev->records == NULL || PyDict_SetItem(g->open, key, (PyObject *)ev) < 0) goto done;
        if (PyDict_GET_SIZE(g->open) > g->window) {
            /* too many open events: the oldest is as complete as it will get */
            int prc = pop_head(g, 0);
            if (prc >= 0) prc = flush_complete(g);
            if (prc < 0) goto done;
            /* hand those out before the rest of this line (see p_ev) */
            Py_INCREF(ev);
            g->p_ev = (PyObject *)ev;
            Py_INCREF(rtype);
            g->p_rtype = rtype;
            Py_INCREF(fields);
            g->p_fields = fields;
            Py_INCREF(stamp);
            g->p_stamp = stamp;
            g->p_slow = slow;
            rc = 0;
            goto done;
        }
    }
    rc = finish_line(g, ev, rtype, fields, stamp, slow);
done:
    Py_XDECREF(ev);
    Py_XDECREF(key);
    Py_XDECREF(parsed);
    Py_XDECREF(made);
    return rc;
}


/* The end of a line: EOE flush, record cap, bookkeeping of Python-parsed records, append. */
static int
finish_line(GrouperObject *g, EvObject *ev, PyObject *rtype, PyObject *fields, PyObject *stamp, int slow)
{
    int rc = -1;
    if (PyUnicode_Check(rtype) && PyUnicode_Compare(rtype, eoe_str) == 0) {
        ev->complete = 1;
        rc = flush_complete(g) < 0 ? -1 : 0;
        goto done;
    }
    if (PyErr_Occurred()) goto done;
    if (PyList_GET_SIZE(ev->records) >= g->max_records) {
        PyObject *r = PyObject_CallFunction(g->bad, "nN", g->n,
                                            PyUnicode_FromFormat("event %S has more than %zd records", stamp,
                                                                 g->max_records));
        if (r == NULL) goto done;
        Py_DECREF(r);
        rc = 0;
        goto done;
    }
    int is_execve = PyUnicode_Check(rtype) && PyUnicode_Compare(rtype, execve_str) == 0;
    if (PyErr_Occurred()) goto done;
    if (!slow && is_execve) ev->execve_parts++; /* the C tokenizer never returns split pieces */
    if (slow) {
        if (is_execve) {
            ev->execve_parts++;
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            while (PyDict_Next(fields, &pos, &k, &v)) {
                if (PyTuple_Check(k)) {
                    ev->split_args = 1;
                    break;
                }
            }
        } else {
            int has = PyDict_Contains(fields, trunc_key);
            if (has < 0) goto done;
            if (has) {
                if (PyDict_DelItem(fields, trunc_key) < 0) goto done;
                g->truncated++;
            }
        }
        PyObject *r = PyObject_CallOneArg(g->lazy, fields); /* _decode_record_lazy: by type */
        if (r == NULL) goto done;
        Py_DECREF(r);
    }
    rc = PyList_Append(ev->records, fields);
done:
    return rc;
}

/* ---- the grouper's own line reader (open_lines' lines, without a str per ASCII line) ---- */

/* Read one more block from raw after the kept bytes. 0 ok (eof set at the end), -1 error. */
static int
fill(GrouperObject *g)
{
    if (g->start > 0) {
        memmove(g->buf, g->buf + g->start, (size_t)(g->end - g->start));
        g->end -= g->start;
        g->start = 0;
    }
    if (g->cap - g->end < g->block) {
        Py_ssize_t cap = g->end + g->block;
        char *nb = PyMem_Realloc(g->buf, (size_t)cap);
        if (nb == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        g->buf = nb;
        g->cap = cap;
    }
    PyObject *chunk = PyObject_CallMethod(g->raw, "read", "n", g->block);
    if (chunk == NULL) return -1;
    if (!PyBytes_Check(chunk)) {
        Py_DECREF(chunk);
        PyErr_SetString(PyExc_TypeError, "raw.read() must return bytes");
        return -1;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(chunk);
    if (n > g->cap - g->end) n = g->cap - g->end; /* a read() larger than asked: keep what fits */
    memcpy(g->buf + g->end, PyBytes_AS_STRING(chunk), (size_t)n);
    g->end += n;
    if (PyBytes_GET_SIZE(chunk) == 0) g->eof = 1;
    Py_DECREF(chunk);
    return 0;
}

static int
all_ascii(const char *p, Py_ssize_t n)
{
    uint64_t acc = 0, w;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= (unsigned char)p[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* One line of the file (without its \n), as open_lines yields it: decoded as UTF-8 with
 * replacement characters, cut to max_chars characters when longer, trailing \r removed. */
static int
feed_bytes(GrouperObject *g, const char *p, Py_ssize_t n)
{
    g->n++;
    if (n > g->max_chars) { /* may be over-long: decode enough bytes for max_chars characters */
        Py_ssize_t take = n < 4 * g->max_chars ? n : 4 * g->max_chars;
        PyObject *full = PyUnicode_DecodeUTF8(p, take, "replace");
        if (full == NULL) return -1;
        Py_ssize_t len = PyUnicode_GET_LENGTH(full);
        if (len > g->max_chars) len = g->max_chars;
        while (len > 0 && PyUnicode_READ_CHAR(full, len - 1) == '\r') len--;
        PyObject *line = PyUnicode_Substring(full, 0, len);
        Py_DECREF(full);
        if (line == NULL) return -1;
        int rc = len == 0 ? 0 : feed_parsed(g, line, NULL, 0);
        Py_DECREF(line);
        return rc;
    }
    while (n > 0 && p[n - 1] == '\r') n--;
    if (n == 0) return 0; /* blank lines are not records */
    if (all_ascii(p, n)) return feed_parsed(g, NULL, p, n);
    PyObject *line = PyUnicode_DecodeUTF8(p, n, "replace");
    if (line == NULL) return -1;
    int rc = feed_parsed(g, line, NULL, 0);
    Py_DECREF(line);
    return rc;
}

/* Feed the next line of raw: 1 fed, 0 end of file, -1 error. */
static int
next_raw_line(GrouperObject *g)
{
    for (;;) {
        char *base = g->buf + g->start;
        Py_ssize_t avail = g->end - g->start;
        char *nl = avail > 0 ? memchr(base, '\n', (size_t)avail) : NULL;
        if (nl != NULL) {
            Py_ssize_t len = nl - base;
            g->start += len + 1;
            if (g->skipping) { /* the rest of an over-long line already fed (cut) */
                g->skipping = 0;
                continue;
            }
            return feed_bytes(g, base, len) < 0 ? -1 : 1;
        }
        if (g->skipping) {
            g->start = g->end;
        } else if (avail > 4 * g->max_chars) { /* more than max_chars characters and no end yet */
            g->start = g->end;
            g->skipping = 1;
            return feed_bytes(g, base, avail) < 0 ? -1 : 1;
        }
        if (g->eof) {
            if (avail > 0 && !g->skipping) {
                g->start = g->end;
                return feed_bytes(g, base, avail) < 0 ? -1 : 1;
            }
            return 0;
        }
        if (fill(g) < 0) return -1;
    }
}

static PyObject *
gr_next(GrouperObject *g)
{
    for (;;) {
        Py_ssize_t qn = PyList_GET_SIZE(g->out);
        if (g->out_pos < qn) {
            PyObject *item = PyList_GET_ITEM(g->out, g->out_pos);
            Py_INCREF(item);
            if (++g->out_pos == qn) {
                if (PyList_SetSlice(g->out, 0, qn, NULL) < 0) {
                    Py_DECREF(item);
                    return NULL;
                }
                g->out_pos = 0;
            }
            return item;
        }
        if (g->p_ev != NULL) {
            PyObject *ev = g->p_ev, *rtype = g->p_rtype, *fields = g->p_fields, *stamp = g->p_stamp;
            g->p_ev = g->p_rtype = g->p_fields = g->p_stamp = NULL;
            int rc = finish_line(g, (EvObject *)ev, rtype, fields, stamp, g->p_slow);
            Py_DECREF(ev);
            Py_DECREF(rtype);
            Py_DECREF(fields);
            Py_DECREF(stamp);
            if (rc < 0) return NULL;
            continue;
        }
        if (g->exhausted) {
            int rc = pop_head(g, 0);
            if (rc <= 0) return NULL; /* error, or the end */
            continue;
        }
        if (g->raw != NULL) {
            int rc = next_raw_line(g);
            if (rc < 0) return NULL;
            if (rc == 0) g->exhausted = 1;
            continue;
        }
        PyObject *line = PyIter_Next(g->it);
        if (line == NULL) {
            if (PyErr_Occurred()) return NULL;
            g->exhausted = 1;
            continue;
        }
        int rc = feed(g, line);
        Py_DECREF(line);
        if (rc < 0) return NULL;
    }
}

static PyMemberDef gr_members[] = {
    {"read", T_PYSSIZET, offsetof(GrouperObject, read), READONLY, "non-blank lines read"},
    {"truncated", T_PYSSIZET, offsetof(GrouperObject, truncated), READONLY, "records kept with a cut value"},
    {"open_events", T_OBJECT, offsetof(GrouperObject, open), READONLY, "open events by key (read only!)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject GrouperType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_auditd_fast.Grouper",
    .tp_basicsize = sizeof(GrouperObject),
    .tp_dealloc = (destructor)gr_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Grouper(lines, slow, bad, lazy, window, max_records, *, raw=None, block=1<<20, max_chars=1<<20): "
              "auditd.parse's grouping loop; iterates (node, stamp, line, records, execve_parts, split_args) per "
              "event. With raw (a binary file), lines is ignored and the file is read as open_lines reads it.",
    .tp_traverse = (traverseproc)gr_traverse,
    .tp_clear = (inquiry)gr_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)gr_next,
    .tp_members = gr_members,
    .tp_new = gr_new,
};

static PyMethodDef methods[] = {
    {"parse_line", parse_line, METH_O,
     "parse_line(line) -> (node, stamp, type, fields) or None when the pure-Python path must parse it.\n"
     "Records come back finished (auditd._decode_record_lazy applied)."},
    {"configure", configure, METH_VARARGS,
     "configure(syscall_names, sockaddr_decoder, sockaddr_cache): the x86_64 syscall table, the SOCKADDR "
     "decoder and its cache."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_auditd_fast", "C tokenizer for auditd lines (optional accelerator).", -1, methods,
};

PyMODINIT_FUNC
PyInit__auditd_fast(void)
{
    type_key = PyUnicode_InternFromString("type");
    syscall_key = PyUnicode_InternFromString("syscall");
    SYSCALL_key = PyUnicode_InternFromString("SYSCALL");
    arch_key = PyUnicode_InternFromString("arch");
    saddr_key = PyUnicode_InternFromString("saddr");
    SADDR_key = PyUnicode_InternFromString("SADDR");
    proctitle_key = PyUnicode_InternFromString("proctitle");
    x86_64_str = PyUnicode_InternFromString("c000003e");
    nul_str = PyUnicode_FromStringAndSize("\0", 1);
    space_str = PyUnicode_InternFromString(" ");
    if (type_key == NULL || syscall_key == NULL || SYSCALL_key == NULL || arch_key == NULL || saddr_key == NULL ||
        SADDR_key == NULL || proctitle_key == NULL || x86_64_str == NULL || nul_str == NULL || space_str == NULL) {
        return NULL;
    }
    CLS['"'] = C_DQUOTE;
    CLS['\''] = C_SQUOTE;
    CLS['='] = C_EQ;
    CLS[' '] = C_SPACE;
    for (int k = 0; HEX_KEYS[k] != NULL; k++) {
        hex_key_objs[k] = PyUnicode_InternFromString(HEX_KEYS[k]);
        if (hex_key_objs[k] == NULL) return NULL;
    }
    eoe_str = PyUnicode_InternFromString("EOE");
    execve_str = PyUnicode_InternFromString("EXECVE");
    trunc_key = PyUnicode_FromStringAndSize("\0truncated", 10);
    rstrip_chars = PyUnicode_FromString("\r\n");
    if (eoe_str == NULL || execve_str == NULL || trunc_key == NULL || rstrip_chars == NULL) return NULL;
    if (PyType_Ready(&EvType) < 0 || PyType_Ready(&GrouperType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&GrouperType);
    if (PyModule_AddObject(m, "Grouper", (PyObject *)&GrouperType) < 0) {
        Py_DECREF(&GrouperType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
