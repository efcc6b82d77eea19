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
#include "_auditd_fast.h"

/* ---- small-string cache: keys and short values recur on every line (AfState.cache) ------ */
#define CACHE_MAXLEN 40

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
mkstr(AfState *st, const char *s, Py_ssize_t n)
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
    PyObject **slot = &st->cache[h & (CACHE_SLOTS - 1)];
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
/* One line's scratch: the module state, and which hex-capable keys the line set (hex_seen) and
 * which of them are quoted in its body (quoted_seen), bit k = HEX_KEYS[k]. */
typedef struct {
    AfState *st;
    unsigned hex_seen, quoted_seen;
} Scan;

static const unsigned char HEX_LENS[] = {4, 3, 4, 3, 4, 5, 3, 3, 4, 9, 4, 3};

static void
note_hex_key(Scan *sc, const char *k, Py_ssize_t kn)
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
    if (bit >= 0) sc->hex_seen |= 1u << bit;
}

static int
set_item(Scan *sc, PyObject *d, const char *k, Py_ssize_t kn, const char *v, Py_ssize_t vn)
{
    note_hex_key(sc, k, kn);
    PyObject *key = mkstr(sc->st, k, kn);
    if (key == NULL) return -1;
    PyObject *val = mkstr(sc->st, v, vn);
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
plain_fields(Scan *sc, PyObject *d, const char *p, Py_ssize_t n, Py_ssize_t eq, Py_ssize_t sp, int dbl)
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
            } else if (set_item(sc, d, p + kstart, klen, p + start, i - start) < 0) {
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
            if (set_item(sc, d, p + s, kl, e + 1, i - s - kl - 1) < 0) return -1;
        }
    }
    return 0;
}

/* Emulate re.findall(r"([^\s=]+)=('[^']*'|\"[^\"]*\"|\{[^}]*\}|\S*)") on an enriched part and
 * store value[1:-1] when it starts with '"' or '{' and is longer than 1. */
static int
brace_fields(Scan *sc, PyObject *d, const char *p, Py_ssize_t n)
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
            rc = set_item(sc, d, p + ks, ke - ks, p + vs + 1, vl - 2);
        } else {
            rc = set_item(sc, d, p + ks, ke - ks, p + vs, vl);
        }
        if (rc < 0) return -1;
        pos = ve > pos ? ve : pos + 1;
    }
    return 0;
}

/* Which hex-capable keys occur quoted in the body, as the Python path's key + '="' in body
 * test decides; note_quoted is called at each '="' with the '=' index. */
static void
note_quoted(Scan *sc, const char *body, Py_ssize_t eq)
{
    for (int k = 0; HEX_KEYS[k] != NULL; k++) {
        Py_ssize_t kl = HEX_LENS[k];
        if (eq >= kl && memcmp(body + eq - kl, HEX_KEYS[k], (size_t)kl) == 0) sc->quoted_seen |= 1u << k;
    }
}

/* ---- record dicts from templates -------------------------------------------------------
 * Kernel records of one type nearly always carry the same keys in the same order. The dict of
 * a "k=v k=v ..." line is built once the slow way ({"type": T} then each pair), and a copy of it
 * is kept with its key objects; a later line of that type with the same keys gets a copy of
 * that template with every value replaced in order: the same dict (keys, order, values), without
 * a string lookup per key or an insertion per field. Lines with repeated keys (or a key named
 * "type") are never templates: their dict has fewer entries than pairs. */
static PyObject *type_key, *syscall_key, *SYSCALL_key, *arch_key, *saddr_key, *SADDR_key, *proctitle_key,
    *x86_64_str, *nul_str, *space_str; /* interned at module init, never changed */

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
template_fields(Scan *sc, PyObject *rtype, const char *p, Py_ssize_t n, Py_ssize_t npairs)
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
    Template *t = &sc->st->templates[(rn * 31 + (unsigned char)rt[0] * 7 + (unsigned char)rt[rn - 1]) & (TPL_SLOTS - 1)];
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
            PyObject *val = mkstr(sc->st, p + vs, vl);
            if (val == NULL || PyDict_SetItem(d, t->keys[j], val) < 0) {
                Py_XDECREF(val);
                Py_DECREF(d);
                return NULL;
            }
            Py_DECREF(val);
        }
        sc->hex_seen = t->hex_seen;
        return d;
    }
    d = new_fields(npairs + 1);
    sc->hex_seen = 0;
    if (d == NULL || PyDict_SetItem(d, type_key, rtype) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    for (Py_ssize_t j = 0; j < npairs; j++) {
        Py_ssize_t ks = pos[2 * j], kl = pos[2 * j + 1] - 1 - ks;
        Py_ssize_t vs = pos[2 * j + 1], vl = pos[2 * j + 2] - 1 - vs;
        if (set_item(sc, d, p + ks, kl, p + vs, vl) < 0) {
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
        t->hex_seen = sc->hex_seen;
    }
    return d;
}

/* Returns 1 done, 0 = needs the Python path, -1 error. */
static int
decode_hex_keys(Scan *sc, PyObject *d, const char *body, Py_ssize_t bn, int proctitle_record)
{
    for (int k = 0; HEX_KEYS[k] != NULL; k++) {
        if (!(sc->hex_seen & (1u << k))) continue; /* not a key of this line */
        PyObject *v = PyDict_GetItemWithError(d, hex_key_objs[k]);
        if (v == NULL) {
            if (PyErr_Occurred()) return -1;
            continue;
        }
        if (sc->quoted_seen & (1u << k)) continue; /* quoted in the body: literal */
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


static int
type_is(const char *t, Py_ssize_t n, const char *lit)
{
    return (size_t)n == strlen(lit) && memcmp(t, lit, (size_t)n) == 0;
}

/* auditd._decode_record_lazy for the C path: SOCKADDR decoded, SYSCALL name added when not
 * enriched, PROCTITLE NULs turned into spaces. */
static int
decode_lazy(AfState *st, PyObject *d, const char *rtype, Py_ssize_t rn)
{
    if (type_is(rtype, rn, "SOCKADDR")) {
        PyObject *saddr = PyDict_GetItemWithError(d, saddr_key);
        if (saddr == NULL) return PyErr_Occurred() ? -1 : 0;
        if (!PyUnicode_Check(saddr) || st->sockaddr_decoder == NULL) return 0;
        PyObject *dec = st->sockaddr_cache != NULL ? PyDict_GetItemWithError(st->sockaddr_cache, saddr) : NULL;
        if (dec != NULL) {
            Py_INCREF(dec); /* what the decoder returns for a cached blob */
        } else {
            if (PyErr_Occurred()) return -1;
            dec = PyObject_CallOneArg(st->sockaddr_decoder, saddr);
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
        if (has != 0 || st->syscall_names == NULL) return has < 0 ? -1 : 0;
        PyObject *nr = PyDict_GetItemWithError(d, syscall_key);
        if (nr == NULL) return PyErr_Occurred() ? -1 : 0; /* .get("syscall", "") finds no name */
        PyObject *name = PyDict_GetItemWithError(st->syscall_names, nr);
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

/* The module's configure(): hands the Python side's tables to this module's state. */
PyObject *
configure(PyObject *module, PyObject *args)
{
    AfState *st = PyModule_GetState(module);
    PyObject *names, *decoder, *cache;
    if (!PyArg_ParseTuple(args, "O!OO!:configure", &PyDict_Type, &names, &decoder, &PyDict_Type, &cache)) return NULL;
    if (!PyCallable_Check(decoder)) {
        PyErr_SetString(PyExc_TypeError, "configure: sockaddr_decoder must be callable");
        return NULL;
    }
    Py_XSETREF(st->sockaddr_cache, Py_NewRef(cache));
    Py_XSETREF(st->syscall_names, Py_NewRef(names));
    Py_XSETREF(st->sockaddr_decoder, Py_NewRef(decoder));
    Py_RETURN_NONE;
}

int
af_state_traverse(AfState *st, visitproc visit, void *arg)
{
    Py_VISIT(st->syscall_names);
    Py_VISIT(st->sockaddr_decoder);
    Py_VISIT(st->sockaddr_cache);
    for (int i = 0; i < TPL_SLOTS; i++) Py_VISIT(st->templates[i].dict);
    return 0; /* the string cache and the templates' keys are str: no cycles through them */
}

void
af_state_clear(AfState *st)
{
    Py_CLEAR(st->syscall_names);
    Py_CLEAR(st->sockaddr_decoder);
    Py_CLEAR(st->sockaddr_cache);
    for (int i = 0; i < TPL_SLOTS; i++) template_clear(&st->templates[i]);
    for (int i = 0; i < CACHE_SLOTS; i++) Py_CLEAR(st->cache[i]);
}

/* _maybe_hex for an EXECVE argument: even-length all-hex text decoded as UTF-8 with
 * backslashreplace, anything else kept as it is. New ref. */
static PyObject *
maybe_hex(AfState *st, const char *s, Py_ssize_t n)
{
    if (n == 0 || n % 2 || !is_hex((unsigned char)s[0])) return mkstr(st, s, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!is_hex((unsigned char)s[i])) return mkstr(st, s, n); /* fromhex would fail: kept */
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
execve_fields(AfState *st, PyObject *d, const char *p, Py_ssize_t n)
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
        PyObject *key = mkstr(st, k, kl), *val;
        if (key == NULL) return -1;
        if (kl >= 2 && k[0] == 'a' && k[1] >= '0' && k[1] <= '9') {
            if (kl >= 4 && memcmp(k + kl - 4, "_len", 4) == 0) {
                Py_DECREF(key);
                continue;
            }
            val = literal ? mkstr(st, v, vl) : maybe_hex(st, v, vl);
        } else {
            val = mkstr(st, v, vl);
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
make_result(AfState *st, const char *node, Py_ssize_t node_len, const char *stamp, Py_ssize_t stamp_len, PyObject *rtype_o,
            PyObject *fields)
{ /* (node, stamp, type, fields) */
    PyObject *node_o, *stamp_o, *result;
    if (node != NULL) {
        node_o = mkstr(st, node, node_len);
        if (node_o == NULL) return NULL;
    } else {
        node_o = Py_None;
        Py_INCREF(node_o);
    }
    stamp_o = mkstr(st, stamp, stamp_len); /* shared by the lines of an event: hash computed once */
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
PyObject *
parse_ascii(AfState *st, const char *line, Py_ssize_t n)
{
    Scan scan = {st, 0, 0}, *sc = &scan;
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
        PyObject *rtype_o = mkstr(st, rtype, rtype_len), *fields = PyDict_New(), *result = NULL;
        if (rtype_o != NULL && fields != NULL && PyDict_SetItem(fields, type_key, rtype_o) == 0 &&
            execve_fields(st, fields, body, blen) == 0 && PyDict_SetItem(fields, type_key, rtype_o) == 0) {
            result = make_result(st, node, node_len, stamp, stamp_len, rtype_o, fields);
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
            if (i > 0 && body[i - 1] == '=') note_quoted(sc, body, i - 1);
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
    rtype_o = mkstr(st, rtype, rtype_len);
    if (rtype_o == NULL) goto done;
    if (eqc == spc + 1 && !dbl && eqc <= TPL_MAXPAIRS) {
        fields = template_fields(sc, rtype_o, plain, pl, eqc);
        if (fields == NULL) goto done;
    } else {
        fields = new_fields(eqc + 1);
        sc->hex_seen = 0;
        if (fields == NULL || PyDict_SetItem(fields, type_key, rtype_o) < 0 ||
            plain_fields(sc, fields, plain, pl, eqc, spc, dbl) < 0) {
            goto done;
        }
    }
    int rc = decode_hex_keys(sc, fields, body, blen, type_is(rtype, rtype_len, "PROCTITLE"));
    if (rc < 0) goto done;
    if (rc == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (brace && elen > 0 && brace_fields(sc, fields, enr, elen) < 0) goto done;
    if (PyDict_SetItem(fields, type_key, rtype_o) < 0) goto done;
    if (decode_lazy(st, fields, rtype, rtype_len) < 0) goto done;
    result = make_result(st, node, node_len, stamp, stamp_len, rtype_o, fields);
done:
    if (plain != stackbuf) PyMem_Free(plain);
    Py_XDECREF(fields);
    Py_XDECREF(rtype_o);
    return result;
}


/* The interned keys and the character classes, made once when the module is imported. */
int
af_tokens_init(void)
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
        return -1;
    }
    CLS['"'] = C_DQUOTE;
    CLS['\''] = C_SQUOTE;
    CLS['='] = C_EQ;
    CLS[' '] = C_SPACE;
    for (int k = 0; HEX_KEYS[k] != NULL; k++) {
        hex_key_objs[k] = PyUnicode_InternFromString(HEX_KEYS[k]);
        if (hex_key_objs[k] == NULL) return -1;
    }
    return 0;
}
