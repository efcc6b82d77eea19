/* The _sigma_fast module: the AuditdSigma type, stream() and the module init (see
 * _sigma_fast.h for the parts; _sigma_event.c builds the events). */
#include "_sigma_fast.h"

/* ---- the type ----------------------------------------------------------------------------- */

static void
fast_dealloc(FastObject *f)
{
    PyObject_GC_UnTrack(f);
    Py_CLEAR(f->extractor);
    Py_CLEAR(f->pids);
    Py_CLEAR(f->inodes);
    Py_CLEAR(f->info_type);
    for (int i = 0; i < NF; i++) Py_CLEAR(f->descr[i]);
    Py_CLEAR(f->local_ip);
    Py_CLEAR(f->max_age);
    Py_CLEAR(f->ls_raw);
    Py_CLEAR(f->ls_pc);
    Py_CLEAR(f->ls_net);
    Py_CLEAR(f->ls_file);
    Py_CLEAR(f->ls_del);
    Py_CLEAR(f->int_fn);
    Py_CLEAR(f->syscalls);
    Py_CLEAR(f->normpath);
    Py_CLEAR(f->resolve_path);
    Py_CLEAR(f->iso_fn);
    Py_CLEAR(f->last_time);
    Py_CLEAR(f->last_iso);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static int
fast_traverse(FastObject *f, visitproc visit, void *arg)
{
    Py_VISIT(f->extractor);
    Py_VISIT(f->pids);
    Py_VISIT(f->inodes);
    Py_VISIT(f->info_type);
    Py_VISIT(f->resolve_path);
    Py_VISIT(f->ls_raw);
    return 0;
}

static PyObject *
mkls(const char *category)
{
    return Py_BuildValue("{s:s,s:O,s:s}", "product", "linux", "service", Py_None, "category", category);
}

static PyObject *
fast_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *extractor, *info_type, *ls_raw, *int_fn, *syscalls, *normpath, *iso_fn;
    int raw, meta;
    static char *kwlist[] = {"extractor", "process_info", "raw_logsource", "to_int", "syscalls",
                             "normpath",  "iso_utc",      "raw",           "meta",   NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO!OO!OOpp:AuditdSigma", kwlist, &extractor, &info_type,
                                     &PyDict_Type, &ls_raw, &int_fn, &PyDict_Type, &syscalls, &normpath, &iso_fn,
                                     &raw, &meta)) {
        return NULL;
    }
    if (!PyType_Check(info_type)) {
        PyErr_SetString(PyExc_TypeError, "process_info must be a class");
        return NULL;
    }
    FastObject *f = (FastObject *)type->tp_alloc(type, 0);
    if (f == NULL) return NULL;
    f->extractor = Py_NewRef(extractor);
    f->info_type = Py_NewRef(info_type);
    f->ls_raw = Py_NewRef(ls_raw);
    f->int_fn = Py_NewRef(int_fn);
    f->syscalls = Py_NewRef(syscalls);
    f->normpath = Py_NewRef(normpath);
    f->iso_fn = Py_NewRef(iso_fn);
    f->raw = raw;
    f->meta = meta;
    f->last_iso = Py_NewRef(Py_None);
    PyObject *procs = PyObject_GetAttrString(extractor, "processes");
    PyObject *cap = NULL, *ctx = NULL, *st = NULL;
    if (procs == NULL) goto fail;
    /* the documented hand-over: ProcessTable.c_state() -> (pids, capacity) */
    st = PyObject_CallMethod(procs, "c_state", NULL);
    Py_DECREF(procs);
    if (st == NULL) goto fail;
    if (!PyTuple_Check(st) || PyTuple_GET_SIZE(st) != 2) goto fail_type;
    f->pids = Py_NewRef(PyTuple_GET_ITEM(st, 0));
    cap = Py_NewRef(PyTuple_GET_ITEM(st, 1));
    Py_CLEAR(st);
    if (!PyDict_Check(f->pids)) goto fail_type;
    f->pid_cap = PyLong_AsSsize_t(cap);
    if (f->pid_cap == -1 && PyErr_Occurred()) goto fail;
    /* ActivityExtractor.c_state() -> (inodes, resolve_path) */
    st = PyObject_CallMethod(extractor, "c_state", NULL);
    if (st == NULL) goto fail;
    if (!PyTuple_Check(st) || PyTuple_GET_SIZE(st) != 2) goto fail_type;
    f->inodes = Py_NewRef(PyTuple_GET_ITEM(st, 0));
    f->resolve_path = Py_NewRef(PyTuple_GET_ITEM(st, 1));
    Py_CLEAR(st);
    ctx = PyObject_GetAttrString(extractor, "ctx");
    if (ctx == NULL) goto fail;
    f->local_ip = PyObject_GetAttrString(ctx, "local_ip");
    f->max_age = PyObject_GetAttrString(ctx, "dns_max_age_s");
    if (f->local_ip == NULL || f->max_age == NULL) goto fail;
    /* ProcessInfo's dataclass fields must be FIELD_NAMES, in order: objects are built without
     * __init__, so a field this code does not know would stay unset. */
    st = PyObject_GetAttrString(info_type, "__dataclass_fields__");
    if (st == NULL) goto fail;
    if (!PyDict_Check(st) || PyDict_Size(st) != NF) goto fail_fields;
    {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        for (int i = 0; PyDict_Next(st, &pos, &key, &value); i++) {
            if (!PyUnicode_Check(key) || PyUnicode_CompareWithASCIIString(key, FIELD_NAMES[i]) != 0) goto fail_fields;
        }
    }
    Py_CLEAR(st);
    for (int i = 0; i < NF; i++) {
        PyObject *d = PyObject_GetAttrString(info_type, FIELD_NAMES[i]); /* the class attribute: the descriptor */
        if (d == NULL) goto fail;
        f->descr[i] = d;
        if (Py_TYPE(d)->tp_descr_set == NULL || Py_TYPE(d)->tp_descr_get == NULL) goto fail_type;
    }
    f->ls_pc = mkls("process_creation");
    f->ls_net = mkls("network_connection");
    f->ls_file = mkls("file_event");
    f->ls_del = mkls("file_delete");
    if (f->ls_pc == NULL || f->ls_net == NULL || f->ls_file == NULL || f->ls_del == NULL) goto fail;
    Py_XDECREF(cap);
    Py_XDECREF(ctx);
    return (PyObject *)f;
fail_fields:
    PyErr_SetString(PyExc_TypeError, "ProcessInfo's fields differ from PROCESSINFO_FIELDS of the C view "
                                     "(harness/views/_sigma_fast.c): update FIELD_NAMES and rebuild");
    goto fail;
fail_type:
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "extractor or process_info of an unexpected shape");
fail:
    Py_XDECREF(st);
    Py_XDECREF(cap);
    Py_XDECREF(ctx);
    Py_DECREF(f);
    return NULL;
}

static PyObject *
fast_events(FastObject *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "events(records, time, meta)");
        return NULL;
    }
    return event_list(f, args[0], args[1], args[2]);
}

/* meta dict of one event; the ISO time is formatted once per distinct time. New ref. */
static PyObject *
make_meta(FastObject *f, PyObject *file, PyObject *line, PyObject *time)
{
    int same;
    if (f->last_time == NULL) same = 0;
    else if (time == Py_None || f->last_time == Py_None) same = time == f->last_time;
    else same = PyFloat_AS_DOUBLE(time) == PyFloat_AS_DOUBLE(f->last_time);
    if (!same) {
        PyObject *iso = PyObject_CallOneArg(f->iso_fn, time);
        if (iso == NULL) return NULL;
        Py_XSETREF(f->last_iso, iso);
        Py_INCREF(time);
        Py_XSETREF(f->last_time, time);
    }
    PyObject *m = PyDict_New();
    if (m == NULL) return NULL;
    if (PyDict_SetItem(m, k_source, s_auditd) < 0 || PyDict_SetItem(m, k_file, file) < 0 ||
        PyDict_SetItem(m, k_line, line) < 0 || PyDict_SetItem(m, k_time, f->last_iso) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* auditd._build_event's time: float of the stamp's part before ':' when it is a plausible epoch. */
static PyObject *
stamp_time(PyObject *stamp)
{
    if (!PyUnicode_Check(stamp)) Py_RETURN_NONE;
    Py_ssize_t n = PyUnicode_GET_LENGTH(stamp);
    Py_ssize_t colon = PyUnicode_FindChar(stamp, ':', 0, n, 1);
    if (colon == -2) return NULL;
    PyObject *ts = PyUnicode_Substring(stamp, 0, colon < 0 ? n : colon);
    if (ts == NULL) return NULL;
    PyObject *t = PyFloat_FromString(ts);
    Py_DECREF(ts);
    if (t == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    double v = PyFloat_AS_DOUBLE(t);
    if (!(v >= 0.0 && v < 253402300800.0)) { /* garbage stamp (also NaN) */
        Py_DECREF(t);
        Py_RETURN_NONE;
    }
    return t;
}

/* ---- stream ------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    FastObject *fast;
    PyObject *grouper, *file, *build;
    Py_ssize_t parsed;
} StreamObject;

static PyTypeObject StreamType;

static PyObject *
fast_stream(FastObject *f, PyObject *args)
{
    PyObject *grouper, *file, *build;
    if (!PyArg_ParseTuple(args, "OOO:stream", &grouper, &file, &build)) return NULL;
    StreamObject *s = PyObject_GC_New(StreamObject, &StreamType);
    if (s == NULL) return NULL;
    s->fast = (FastObject *)Py_NewRef(f);
    s->grouper = PyObject_GetIter(grouper);
    s->file = Py_NewRef(file);
    s->build = Py_NewRef(build);
    s->parsed = 0;
    PyObject_GC_Track(s);
    if (s->grouper == NULL) {
        Py_DECREF(s);
        return NULL;
    }
    return (PyObject *)s;
}

static void
stream_dealloc(StreamObject *s)
{
    PyObject_GC_UnTrack(s);
    Py_CLEAR(s->fast);
    Py_CLEAR(s->grouper);
    Py_CLEAR(s->file);
    Py_CLEAR(s->build);
    PyObject_GC_Del(s);
}

static int
stream_traverse(StreamObject *s, visitproc visit, void *arg)
{
    Py_VISIT(s->fast);
    Py_VISIT(s->grouper);
    Py_VISIT(s->build);
    return 0;
}

static PyObject *records_key; /* "records" */

static PyObject *
stream_next(StreamObject *s)
{
    PyObject *tup = PyIter_Next(s->grouper);
    if (tup == NULL) return NULL;
    if (!PyTuple_Check(tup) || PyTuple_GET_SIZE(tup) != 6) {
        Py_DECREF(tup);
        PyErr_SetString(PyExc_TypeError, "grouper must yield 6-tuples");
        return NULL;
    }
    FastObject *f = s->fast;
    PyObject *stamp = PyTuple_GET_ITEM(tup, 1), *line = PyTuple_GET_ITEM(tup, 2);
    PyObject *records = PyTuple_GET_ITEM(tup, 3);
    int execve_parts = (int)PyLong_AsLong(PyTuple_GET_ITEM(tup, 4));
    int split = PyObject_IsTrue(PyTuple_GET_ITEM(tup, 5));
    PyObject *time = NULL, *rec = NULL, *meta = NULL, *res = NULL;
    Py_INCREF(records);
    if (execve_parts > 1 || split) { /* EXECVE records to merge: auditd._build_event does it */
        PyObject *call = PyTuple_New(7);
        if (call == NULL) goto done;
        for (int i = 0; i < 6; i++) PyTuple_SET_ITEM(call, i, Py_NewRef(PyTuple_GET_ITEM(tup, i)));
        PyTuple_SET_ITEM(call, 6, Py_NewRef(s->file));
        rec = PyObject_Call(s->build, call, NULL);
        Py_DECREF(call);
        if (rec == NULL) goto done;
        PyObject *fields = PyObject_GetAttrString(rec, "fields");
        if (fields == NULL) goto done;
        Py_SETREF(records, PyObject_GetItem(fields, records_key));
        Py_DECREF(fields);
        if (records == NULL) goto done;
        time = PyObject_GetAttrString(rec, "time");
    } else {
        time = stamp_time(stamp);
    }
    if (time == NULL) goto done;
    if (f->meta) {
        meta = make_meta(f, s->file, line, time);
        if (meta == NULL) goto done;
    }
    res = event_list(f, records, time, meta != NULL ? meta : Py_None);
    if (res == Py_NotImplemented) {
        Py_CLEAR(res);
        PyErr_SetString(PyExc_TypeError, "auditd records must be dicts");
    }
    if (res != NULL) s->parsed++;
done:
    Py_XDECREF(records);
    Py_XDECREF(time);
    Py_XDECREF(rec);
    Py_XDECREF(meta);
    Py_DECREF(tup);
    return res;
}

static PyMemberDef stream_members[] = {
    {"parsed", T_PYSSIZET, offsetof(StreamObject, parsed), READONLY, "audit events handed out"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_sigma_fast.AuditdSigmaStream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)stream_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)stream_next,
    .tp_members = stream_members,
};

static PyMethodDef fast_methods[] = {
    {"events", (PyCFunction)(void (*)(void))fast_events, METH_FASTCALL,
     "events(records, time, meta) -> the Sigma events of one grouped auditd event (meta None: no meta key), "
     "or NotImplemented when a record is not a dict."},
    {"stream", (PyCFunction)fast_stream, METH_VARARGS,
     "stream(grouper, file, build) -> iterator of Sigma event lists, one per event of an auditd Grouper."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FastType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_sigma_fast.AuditdSigma",
    .tp_basicsize = sizeof(FastObject),
    .tp_dealloc = (destructor)fast_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "AuditdSigma(extractor, process_info, raw_logsource, to_int, syscalls, normpath, iso_utc, raw, meta)",
    .tp_traverse = (traverseproc)fast_traverse,
    .tp_methods = fast_methods,
    .tp_new = fast_new,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sigma_fast", "C accelerator of the auditd Sigma view (optional).", -1, NULL,
};

#define INTERN(var, text)                                  \
    do {                                                   \
        if (((var) = PyUnicode_InternFromString(text)) == NULL) return NULL; \
    } while (0)

PyMODINIT_FUNC
PyInit__sigma_fast(void)
{
    INTERN(k_type, "type");
    INTERN(k_SYSCALL, "SYSCALL");
    INTERN(k_syscall, "syscall");
    INTERN(k_pid, "pid");
    INTERN(k_ppid, "ppid");
    INTERN(k_exe, "exe");
    INTERN(k_UID, "UID");
    INTERN(k_uid, "uid");
    INTERN(k_ses, "ses");
    INTERN(k_auid, "auid");
    INTERN(k_success, "success");
    INTERN(k_proctitle, "proctitle");
    INTERN(k_cwd, "cwd");
    INTERN(k_saddr_fam, "saddr_fam");
    INTERN(k_laddr, "laddr");
    INTERN(k_lport, "lport");
    INTERN(k_name, "name");
    INTERN(k_nametype, "nametype");
    INTERN(k_dev, "dev");
    INTERN(k_inode, "inode");
    INTERN(k_mode, "mode");
    INTERN(k_logsource, "logsource");
    INTERN(k_event, "event");
    INTERN(k_meta, "meta");
    INTERN(k_source, "source");
    INTERN(k_file, "file");
    INTERN(k_line, "line");
    INTERN(k_time, "time");
    INTERN(s_empty, "");
    INTERN(s_root, "root");
    INTERN(s_true, "true");
    INTERN(s_false, "false");
    INTERN(s_tcp, "tcp");
    INTERN(s_udp, "udp");
    INTERN(s_icmp, "icmp");
    INTERN(s_auditd, "auditd");
    INTERN(s_space, " ");
    INTERN(e_Image, "Image");
    INTERN(e_CommandLine, "CommandLine");
    INTERN(e_CurrentDirectory, "CurrentDirectory");
    INTERN(e_User, "User");
    INTERN(e_LogonId, "LogonId");
    INTERN(e_TerminalSessionId, "TerminalSessionId");
    INTERN(e_ProcessId, "ProcessId");
    INTERN(e_ParentProcessId, "ParentProcessId");
    INTERN(e_ParentImage, "ParentImage");
    INTERN(e_ParentCommandLine, "ParentCommandLine");
    INTERN(e_ParentUser, "ParentUser");
    INTERN(e_OriginalFileName, "OriginalFileName");
    INTERN(e_Protocol, "Protocol");
    INTERN(e_Initiated, "Initiated");
    INTERN(e_SourceIp, "SourceIp");
    INTERN(e_SourceIsIpv6, "SourceIsIpv6");
    INTERN(e_DestinationIp, "DestinationIp");
    INTERN(e_DestinationPort, "DestinationPort");
    INTERN(e_DestinationHostname, "DestinationHostname");
    INTERN(e_DestinationIsIpv6, "DestinationIsIpv6");
    INTERN(e_TargetFilename, "TargetFilename");
    INTERN(m_move_to_end, "move_to_end");
    INTERN(m_popitem, "popitem");
    INTERN(m_name_for, "name_for");
    INTERN(a_dns, "dns");
    INTERN(m_knows, "knows");
    INTERN(records_key, "records");
    for (int i = 0; i < ARGKEYS; i++) {
        argkeys[i] = PyUnicode_FromFormat("a%d", i);
        if (argkeys[i] == NULL) return NULL;
        PyUnicode_InternInPlace(&argkeys[i]);
    }
    if (PyType_Ready(&FastType) < 0 || PyType_Ready(&StreamType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *fields = PyTuple_New(NF);
    if (fields == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    for (int i = 0; i < NF; i++) {
        PyObject *name = PyUnicode_FromString(FIELD_NAMES[i]);
        if (name == NULL) {
            Py_DECREF(fields);
            Py_DECREF(m);
            return NULL;
        }
        PyTuple_SET_ITEM(fields, i, name);
    }
    if (PyModule_AddObject(m, "PROCESSINFO_FIELDS", fields) < 0) {
        Py_DECREF(fields);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&FastType);
    if (PyModule_AddObject(m, "AuditdSigma", (PyObject *)&FastType) < 0) {
        Py_DECREF(&FastType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
