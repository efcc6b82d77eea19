/* auditd.parse's event grouping loop in C (see _auditd_fast.h for the parts). */
#include "_auditd_fast.h"

/* ---- Grouper: auditd.parse's event grouping loop (same rules, see auditd.parse) ---------- */

static void
ev_dealloc(EvObject *e)
{
    Py_XDECREF(e->node);
    Py_XDECREF(e->stamp);
    Py_XDECREF(e->records);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

PyTypeObject EvType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_auditd_fast._Event",
    .tp_basicsize = sizeof(EvObject),
    .tp_dealloc = (destructor)ev_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};


static PyObject *eoe_str, *execve_str, *trunc_key, *rstrip_chars;

int
gr_traverse(GrouperObject *g, visitproc visit, void *arg)
{
    Py_VISIT(g->module);
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

int
gr_clear(GrouperObject *g)
{
    Py_CLEAR(g->module);
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

void
gr_dealloc(GrouperObject *g)
{
    PyObject_GC_UnTrack(g);
    gr_clear(g);
    PyMem_Free(g->buf);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

PyObject *
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
    PyObject *module = af_module();
    if (module == NULL) return NULL;
    GrouperObject *g = (GrouperObject *)type->tp_alloc(type, 0);
    if (g == NULL) return NULL;
    g->module = Py_NewRef(module);
    g->st = PyModule_GetState(module);
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
int
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
parse_str(AfState *st, PyObject *arg)
{
    if (!PyUnicode_Check(arg) || !PyUnicode_IS_ASCII(arg)) Py_RETURN_NONE;
    return parse_ascii(st, (const char *)PyUnicode_DATA(arg), PyUnicode_GET_LENGTH(arg));
}

PyObject *
parse_line(PyObject *module, PyObject *arg)
{
    return parse_str(PyModule_GetState(module), arg);
}
int finish_line(GrouperObject *g, EvObject *ev, PyObject *rtype, PyObject *fields, PyObject *stamp, int slow);

int feed_parsed(GrouperObject *g, PyObject *line, const char *text, Py_ssize_t len);

/* One input line (reference: the loop body of auditd.parse). 0 ok, -1 error. */
int
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
int
feed_parsed(GrouperObject *g, PyObject *line, const char *text, Py_ssize_t len)
{
    g->read++;
    int slow = 0, rc = -1;
    PyObject *parsed = line != NULL ? parse_str(g->st, line) : parse_ascii(g->st, text, len), *key = NULL;
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
int
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


/* The grouper's interned strings, made once when the module is imported. */
int
af_group_init(void)
{
    eoe_str = PyUnicode_InternFromString("EOE");
    execve_str = PyUnicode_InternFromString("EXECVE");
    trunc_key = PyUnicode_FromStringAndSize("\0truncated", 10);
    rstrip_chars = PyUnicode_FromString("\r\n");
    if (eoe_str == NULL || execve_str == NULL || trunc_key == NULL || rstrip_chars == NULL) return -1;
    return 0;
}
