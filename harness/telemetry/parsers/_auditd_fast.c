/* The _auditd_fast module: the grouper's file reader, the Grouper type and the module init
 * (see _auditd_fast.h for the parts). */
#include "_auditd_fast.h"

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

static int
module_traverse(PyObject *m, visitproc visit, void *arg)
{
    AfState *st = PyModule_GetState(m);
    return st != NULL ? af_state_traverse(st, visit, arg) : 0;
}

static int
module_clear(PyObject *m)
{
    AfState *st = PyModule_GetState(m);
    if (st != NULL) af_state_clear(st);
    return 0;
}

static void
module_free(void *m)
{
    module_clear((PyObject *)m);
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_auditd_fast",
    .m_doc = "C tokenizer for auditd lines (optional accelerator).",
    .m_size = sizeof(AfState), /* zeroed by PyModule_Create */
    .m_methods = methods,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyObject *
af_module(void)
{
    PyObject *m = PyState_FindModule(&module);
    if (m == NULL && !PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "_auditd_fast is not imported");
    return m;
}

PyMODINIT_FUNC
PyInit__auditd_fast(void)
{
    if (af_tokens_init() < 0) return NULL;
    if (af_group_init() < 0) return NULL;
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
