/* Optional C accelerator for the auditd part of the Sigma view (harness.views.sigma).
 *
 * AuditdSigma(extractor, ...) builds, for one grouped auditd event, exactly the list that
 * SigmaView.events(rec) builds in Python: one {product: linux, service: auditd} event per
 * record (when raw), then the semantic events (process_creation, network_connection,
 * file_event, file_delete) of ActivityExtractor._auditd + activity_event. It works on the
 * extractor's own state, creating real ProcessInfo objects, so Python and C calls can
 * interleave on one view. The contract with Python: the state is handed over by
 * ProcessTable.c_state() (pid table, capacity) and ActivityExtractor.c_state() (inode table,
 * relative-path resolver), DnsIndex.knows(ip) says whether to ask DnsIndex.name_for, and
 * ProcessInfo's fields are FIELD_NAMES below, exported as PROCESSINFO_FIELDS (a test compares
 * them with the dataclass; AuditdSigma() refuses a ProcessInfo with other fields). No private
 * attribute is read. Rare shapes go back to Python:
 * relative PATH names (the resolver above), paths that need normalising
 * (posixpath.normpath), non-decimal ids (activity._int), DNS names (DnsIndex.name_for, only
 * for addresses the index knows), timestamps (iso_utc, once per distinct time).
 *
 * stream(grouper, file, build) iterates the C auditd Grouper's event tuples and yields each
 * event's Sigma list without building Record objects (build, auditd._build_event, is called
 * only for events whose EXECVE records must be merged).
 *
 * The Python code stays the reference: tests/views/test_sigma_fast.py compares both on the
 * recordings, the benchmark's generator output, the malformed inputs and seeded mutations.
 */
#include "_sigma_fast.h"

/* interned keys and constant strings */
PyObject *k_type, *k_SYSCALL, *k_syscall, *k_pid, *k_ppid, *k_exe, *k_UID, *k_uid, *k_ses, *k_auid,
    *k_success, *k_proctitle, *k_cwd, *k_saddr_fam, *k_laddr, *k_lport, *k_name, *k_nametype, *k_dev, *k_inode,
    *k_mode, *k_logsource, *k_event, *k_meta, *k_source, *k_file, *k_line, *k_time;
PyObject *s_empty, *s_root, *s_true, *s_false, *s_tcp, *s_udp, *s_icmp, *s_auditd, *s_space;
PyObject *e_Image, *e_CommandLine, *e_CurrentDirectory, *e_User, *e_LogonId, *e_TerminalSessionId,
    *e_ProcessId, *e_ParentProcessId, *e_ParentImage, *e_ParentCommandLine, *e_ParentUser, *e_OriginalFileName,
    *e_Protocol, *e_Initiated, *e_SourceIp, *e_SourceIsIpv6, *e_DestinationIp, *e_DestinationPort,
    *e_DestinationHostname, *e_DestinationIsIpv6, *e_TargetFilename;
PyObject *m_move_to_end, *m_popitem, *m_name_for, *m_knows, *a_dns;
PyObject *argkeys[ARGKEYS]; /* "a0".."a63" */

/* ProcessInfo fields, in declaration order */
const char *FIELD_NAMES[NF] = {"pid",  "ppid",    "image", "command_line", "user",   "cwd",
                                      "time", "session", "guid",  "parent_guid",  "hashes", "logon_id"};

static int
eq_lit(PyObject *o, const char *lit, Py_ssize_t n)
{ /* o == lit for a str o */
    if (o == NULL || !PyUnicode_Check(o)) return 0;
    if (PyUnicode_IS_COMPACT_ASCII(o)) {
        return PyUnicode_GET_LENGTH(o) == n && memcmp(PyUnicode_DATA(o), lit, (size_t)n) == 0;
    }
    return PyUnicode_CompareWithASCIIString(o, lit) == 0; /* str subclasses, non-ASCII text */
}
#define EQ(o, lit) eq_lit((o), lit, (Py_ssize_t)(sizeof(lit) - 1))



/* ---- helpers ------------------------------------------------------------------------------ */

static PyObject *
dget(PyObject *d, PyObject *k)
{ /* borrowed d.get(k) or NULL (with an error set only on failure) */
    return PyDict_GetItemWithError(d, k);
}

/* activity._int for the usual shapes (exact int, ASCII decimal str), else the Python one. New ref
 * (Py_None for "no value"). */
PyObject *
to_int(FastObject *f, PyObject *v)
{
    if (v == NULL || v == Py_None) Py_RETURN_NONE;
    if (PyLong_CheckExact(v)) {
        Py_INCREF(v);
        return v;
    }
    if (PyUnicode_Check(v) && PyUnicode_IS_COMPACT_ASCII(v)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(v);
        const char *s = (const char *)PyUnicode_DATA(v);
        if (n > 0 && n <= 18) {
            long long x = 0;
            Py_ssize_t i = 0;
            for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) x = x * 10 + (s[i] - '0');
            if (i == n) return PyLong_FromLongLong(x);
        }
    }
    return PyObject_CallOneArg(f->int_fn, v);
}

/* new ProcessInfo without its (slow, frozen) __init__: the slots are set through their member
 * descriptors, as object.__setattr__ in the generated __init__ does. */
static PyObject *
new_info(FastObject *f, PyObject **vals)
{
    PyTypeObject *tp = (PyTypeObject *)f->info_type;
    PyObject *o = tp->tp_alloc(tp, 0);
    if (o == NULL) return NULL;
    for (int i = 0; i < NF; i++) {
        PyObject *v = vals[i] != NULL ? vals[i] : Py_None;
        if (Py_TYPE(f->descr[i])->tp_descr_set(f->descr[i], o, v) < 0) {
            Py_DECREF(o);
            return NULL;
        }
    }
    return o;
}

static PyObject *
info_get(FastObject *f, PyObject *info, int field)
{ /* new ref */
    return Py_TYPE(f->descr[field])->tp_descr_get(f->descr[field], info, f->info_type);
}

static PyObject *
pids_get(FastObject *f, PyObject *pid)
{ /* ProcessTable.get: borrowed or NULL */
    if (pid == Py_None) return NULL;
    return PyDict_GetItemWithError(f->pids, pid);
}

static int
lru_put(PyObject *od, PyObject *key, PyObject *value, Py_ssize_t cap)
{ /* od[key] = value; od.move_to_end(key); if len(od) > cap: od.popitem(last=False) */
    if (PyObject_SetItem(od, key, value) < 0) return -1;
    PyObject *r = PyObject_CallMethodOneArg(od, m_move_to_end, key);
    if (r == NULL) return -1;
    Py_DECREF(r);
    if (PyObject_Length(od) > cap) {
        r = PyObject_CallMethodOneArg(od, m_popitem, Py_False);
        if (r == NULL) return -1;
        Py_DECREF(r);
    }
    return 0;
}

static int
pids_put(FastObject *f, PyObject *info, PyObject *pid)
{
    if (pid == Py_None) return 0;
    return lru_put(f->pids, pid, info, f->pid_cap);
}

static int
set_if(PyObject *d, PyObject *k, PyObject *v)
{ /* d[k] = v unless v is None/NULL */
    if (v == NULL || v == Py_None) return 0;
    return PyDict_SetItem(d, k, v);
}

/* posixpath.normpath when the path may change ("//", "/." or a trailing "/"), as _note_inode
 * decides; an absolute path without those is already normal. New ref. */
static PyObject *
norm_if_needed(FastObject *f, PyObject *name)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(name);
    int need = n > 0 && PyUnicode_READ_CHAR(name, n - 1) == '/';
    if (!need && PyUnicode_IS_COMPACT_ASCII(name)) {
        const char *s = (const char *)PyUnicode_DATA(name);
        for (Py_ssize_t i = 0; i + 1 < n; i++) {
            if (s[i] == '/' && (s[i + 1] == '/' || s[i + 1] == '.')) {
                need = 1;
                break;
            }
        }
    } else if (!need) {
        need = 1; /* non-ASCII: let Python decide */
    }
    if (need) return PyObject_CallOneArg(f->normpath, name);
    Py_INCREF(name);
    return name;
}

static int
starts_slash(PyObject *s)
{
    return PyUnicode_GET_LENGTH(s) > 0 && PyUnicode_READ_CHAR(s, 0) == '/';
}

/* ActivityExtractor._note_inode */
static int
note_inode(FastObject *f, PyObject *p)
{
    PyObject *name = dget(p, k_name);
    if (name == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!PyUnicode_Check(name) || !starts_slash(name)) return 0;
    PyObject *nt = dget(p, k_nametype);
    if (nt == NULL && PyErr_Occurred()) return -1;
    if (EQ(nt, "PARENT")) return 0;
    PyObject *dev = dget(p, k_dev);
    if (dev == NULL && PyErr_Occurred()) return -1;
    PyObject *ino = dget(p, k_inode);
    if (ino == NULL && PyErr_Occurred()) return -1;
    PyObject *ds = PyObject_Str(dev != NULL ? dev : Py_None);
    PyObject *is = ds != NULL ? PyObject_Str(ino != NULL ? ino : Py_None) : NULL;
    PyObject *key = is != NULL ? PyTuple_Pack(2, ds, is) : NULL;
    Py_XDECREF(ds);
    Py_XDECREF(is);
    if (key == NULL) return -1;
    Py_INCREF(name);
    PyObject *val = norm_if_needed(f, name);
    Py_DECREF(name);
    int rc = val != NULL ? lru_put(f->inodes, key, val, 65536) : -1;
    Py_XDECREF(val);
    Py_DECREF(key);
    return rc;
}

/* ActivityExtractor._resolve_path: absolute names here, relative ones in Python. New ref or
 * Py_None. */
PyObject *
resolve_path(FastObject *f, PyObject *p, PyObject **paths, Py_ssize_t np, PyObject *sc, PyObject *cwd)
{
    PyObject *fname = dget(p, k_name);
    if (fname == NULL && PyErr_Occurred()) return NULL;
    if (fname == NULL || !PyUnicode_Check(fname) || EQ(fname, "(null)") || PyUnicode_GET_LENGTH(fname) == 0) {
        Py_RETURN_NONE;
    }
    if (!starts_slash(fname)) {
        PyObject *lst = PyList_New(np);
        if (lst == NULL) return NULL;
        for (Py_ssize_t i = 0; i < np; i++) {
            Py_INCREF(paths[i]);
            PyList_SET_ITEM(lst, i, paths[i]);
        }
        PyObject *r = PyObject_CallFunctionObjArgs(f->resolve_path, p, lst, sc, cwd != NULL ? cwd : Py_None, NULL);
        Py_DECREF(lst);
        return r;
    }
    Py_INCREF(fname);
    PyObject *path = norm_if_needed(f, fname); /* normpath(x) is x when nothing needs normalising */
    Py_DECREF(fname);
    if (path == NULL) return NULL;
    if (PyUnicode_Check(path) && PyUnicode_GET_LENGTH(path) >= 2 && PyUnicode_READ_CHAR(path, 0) == '/' &&
        PyUnicode_READ_CHAR(path, 1) == '/') {
        PyObject *cut = PyUnicode_Substring(path, 1, PyUnicode_GET_LENGTH(path));
        Py_DECREF(path);
        return cut;
    }
    return path;
}

static PyObject *
wrap(PyObject *ls, PyObject *event, PyObject *meta)
{ /* {"logsource": ls, "event": event[, "meta": meta]} */
    PyObject *w = PyDict_New();
    if (w == NULL) return NULL;
    if (PyDict_SetItem(w, k_logsource, ls) < 0 || PyDict_SetItem(w, k_event, event) < 0 ||
        (meta != NULL && meta != Py_None && PyDict_SetItem(w, k_meta, meta) < 0)) {
        Py_DECREF(w);
        return NULL;
    }
    return w;
}

static int
append_wrapped(PyObject *out, PyObject *ls, PyObject *event, PyObject *meta)
{ /* steals event */
    if (event == NULL) return -1;
    PyObject *w = wrap(ls, event, meta);
    Py_DECREF(event);
    if (w == NULL) return -1;
    int rc = PyList_Append(out, w);
    Py_DECREF(w);
    return rc;
}

/* DnsIndex.name_for(ip, time, max_age), asked only when the index holds answers for ip. New ref. */
static PyObject *
dns_name(FastObject *f, PyObject *ip, PyObject *time)
{
    if (ip == NULL || ip == Py_None) Py_RETURN_NONE;
    PyObject *dns = PyObject_GetAttr(f->extractor, a_dns);
    if (dns == NULL) return NULL;
    PyObject *k = PyObject_CallMethodOneArg(dns, m_knows, ip);
    if (k == NULL) {
        Py_DECREF(dns);
        return NULL;
    }
    int known = PyObject_IsTrue(k);
    Py_DECREF(k);
    PyObject *r;
    if (known < 0) {
        r = NULL;
    } else if (known == 0) {
        r = Py_None;
        Py_INCREF(r);
    } else {
        r = PyObject_CallMethodObjArgs(dns, m_name_for, ip, time, f->max_age, NULL);
    }
    Py_DECREF(dns);
    return r;
}

/* ---- the event -------------------------------------------------------------------------- */

#define MAXPATHS 64

/* The Sigma events of one grouped auditd event (records: list of dicts). NULL on error;
 * Py_NotImplemented (new ref) when a record is not a dict (the Python path handles it). */
PyObject *
event_list(FastObject *f, PyObject *records, PyObject *time, PyObject *meta)
{
    if (!PyList_Check(records)) Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t nrec = PyList_GET_SIZE(records);
    PyObject *sc = NULL, *execve = NULL, *cwd = NULL, *sockaddr = NULL, *proctitle = NULL;
    PyObject *pathbuf[MAXPATHS];
    PyObject **paths = pathbuf;
    Py_ssize_t np = 0;
    for (Py_ssize_t i = 0; i < nrec; i++) {
        if (!PyDict_CheckExact(PyList_GET_ITEM(records, i))) Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    /* everything owned below is released at done */
    PyObject *pid = NULL, *ppid = NULL, *proc = NULL, *name_o = NULL, *user = NULL;
    int ok = 0;
    if (f->raw) {
        for (Py_ssize_t i = 0; i < nrec; i++) {
            PyObject *r = PyList_GET_ITEM(records, i);
            Py_INCREF(r);
            if (append_wrapped(out, f->ls_raw, r, meta) < 0) goto done;
        }
    }
    for (Py_ssize_t i = 0; i < nrec; i++) {
        PyObject *r = PyList_GET_ITEM(records, i);
        PyObject *t = dget(r, k_type);
        if (t == NULL) {
            if (PyErr_Occurred()) goto done;
            continue;
        }
        if (EQ(t, "SYSCALL")) {
            sc = r;
        } else if (EQ(t, "PROCTITLE")) {
            proctitle = dget(r, k_proctitle);
            if (proctitle == NULL && PyErr_Occurred()) goto done;
        } else if (EQ(t, "SOCKADDR")) {
            sockaddr = r;
        } else if (EQ(t, "PATH")) {
            if (np == MAXPATHS && paths == pathbuf) {
                paths = PyMem_Malloc(sizeof(PyObject *) * (size_t)nrec);
                if (paths == NULL) {
                    paths = pathbuf;
                    PyErr_NoMemory();
                    goto done;
                }
                memcpy(paths, pathbuf, sizeof pathbuf);
            }
            paths[np++] = r;
        } else if (EQ(t, "CWD")) {
            cwd = dget(r, k_cwd);
            if (cwd == NULL && PyErr_Occurred()) goto done;
        } else if (EQ(t, "EXECVE")) {
            execve = r;
        }
    }
    if (sc == NULL) {
        ok = 1;
        goto done;
    }
    /* name = SYSCALL or X86_64_SYSCALLS.get(syscall, syscall) */
    PyObject *nm = dget(sc, k_SYSCALL);
    if (nm == NULL && PyErr_Occurred()) goto done;
    int truthy = nm != NULL ? PyObject_IsTrue(nm) : 0;
    if (truthy < 0) goto done;
    if (truthy) {
        name_o = nm;
        Py_INCREF(name_o);
    } else {
        PyObject *nr = dget(sc, k_syscall);
        if (nr == NULL && PyErr_Occurred()) goto done;
        if (nr == NULL) nr = s_empty;
        PyObject *known = PyDict_GetItemWithError(f->syscalls, nr);
        if (known == NULL && PyErr_Occurred()) goto done;
        name_o = known != NULL ? known : nr;
        Py_INCREF(name_o);
    }
    pid = to_int(f, dget(sc, k_pid));
    if (pid == NULL) goto done;
    ppid = to_int(f, dget(sc, k_ppid));
    if (ppid == NULL) goto done;
    PyObject *exe = dget(sc, k_exe);
    if (exe == NULL && PyErr_Occurred()) goto done;
    if (exe == Py_None || EQ(exe, "-") || EQ(exe, "") || EQ(exe, "(null)")) exe = NULL;
    /* user = UID or _uid_name(uid) */
    PyObject *uid_n = dget(sc, k_UID);
    if (uid_n == NULL && PyErr_Occurred()) goto done;
    truthy = uid_n != NULL ? PyObject_IsTrue(uid_n) : 0;
    if (truthy < 0) goto done;
    if (truthy) {
        user = uid_n;
    } else {
        PyObject *uid = dget(sc, k_uid);
        if (uid == NULL && PyErr_Occurred()) goto done;
        if (uid == NULL || uid == Py_None || EQ(uid, "4294967295")) user = NULL;
        else if (EQ(uid, "0")) user = s_root;
        else user = uid;
    }
    Py_XINCREF(user);
    PyObject *ses = dget(sc, k_ses);
    if (ses == NULL && PyErr_Occurred()) goto done;
    if (EQ(ses, "4294967295")) ses = NULL;
    PyObject *auid = dget(sc, k_auid);
    if (auid == NULL && PyErr_Occurred()) goto done;
    PyObject *logon = (auid == NULL || auid == Py_None || EQ(auid, "4294967295")) ? NULL : auid;
    PyObject *success = dget(sc, k_success);
    if (success == NULL && PyErr_Occurred()) goto done;

    if ((EQ(name_o, "execve") || EQ(name_o, "execveat")) && EQ(success, "yes") && execve != NULL) {
        /* process_creation: argv a0, a1, ... until one is missing */
        PyObject *argv = PyList_New(0);
        if (argv == NULL) goto done;
        for (int i = 0;; i++) {
            PyObject *key = i < ARGKEYS ? argkeys[i] : PyUnicode_FromFormat("a%d", i);
            if (key == NULL) {
                Py_DECREF(argv);
                goto done;
            }
            PyObject *v = PyDict_GetItemWithError(execve, key);
            if (i >= ARGKEYS) Py_DECREF(key);
            if (v == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(argv);
                    goto done;
                }
                break;
            }
            if (v == Py_None) break; /* execve.get(f"a{i}") is None ends the vector too */
            PyObject *sv = PyObject_Str(v);
            if (sv == NULL || PyList_Append(argv, sv) < 0) {
                Py_XDECREF(sv);
                Py_DECREF(argv);
                goto done;
            }
            Py_DECREF(sv);
        }
        PyObject *cmdline = PyUnicode_Join(s_space, argv);
        Py_DECREF(argv);
        if (cmdline == NULL) goto done;
        PyObject *vals[NF] = {pid, ppid, exe, cmdline, user, cwd, time, ses, NULL, NULL, NULL, logon};
        PyObject *info = new_info(f, vals);
        if (info == NULL) {
            Py_DECREF(cmdline);
            goto done;
        }
        PyObject *parent = pids_get(f, ppid);
        if (parent == NULL && PyErr_Occurred()) {
            Py_DECREF(cmdline);
            Py_DECREF(info);
            goto done;
        }
        Py_XINCREF(parent);
        int prc = pids_put(f, info, pid);
        Py_DECREF(info);
        PyObject *ev = prc < 0 ? NULL : PyDict_New();
        int erc = ev == NULL ? -1 : 0;
        if (erc == 0) erc = set_if(ev, e_Image, exe);
        if (erc == 0) erc = set_if(ev, e_CommandLine, cmdline);
        if (erc == 0) erc = set_if(ev, e_CurrentDirectory, cwd);
        if (erc == 0) erc = set_if(ev, e_User, user);
        if (erc == 0) erc = set_if(ev, e_LogonId, logon);
        if (erc == 0) erc = set_if(ev, e_TerminalSessionId, ses);
        if (erc == 0) erc = set_if(ev, e_ProcessId, pid);
        if (erc == 0) erc = set_if(ev, e_ParentProcessId, ppid);
        if (erc == 0 && parent != NULL) {
            PyObject *pv[3] = {info_get(f, parent, F_IMAGE), info_get(f, parent, F_CMDLINE),
                               info_get(f, parent, F_USER)};
            if (pv[0] == NULL || pv[1] == NULL || pv[2] == NULL) erc = -1;
            if (erc == 0) erc = set_if(ev, e_ParentImage, pv[0]);
            if (erc == 0) erc = set_if(ev, e_ParentCommandLine, pv[1]);
            if (erc == 0) erc = set_if(ev, e_ParentUser, pv[2]);
            Py_XDECREF(pv[0]);
            Py_XDECREF(pv[1]);
            Py_XDECREF(pv[2]);
        }
        Py_XDECREF(parent);
        Py_DECREF(cmdline);
        if (erc == 0 && exe != NULL && !PyUnicode_Check(exe)) {
            PyErr_SetString(PyExc_TypeError, "exe must be a str");
            erc = -1;
        }
        if (erc == 0 && exe != NULL) {
            int t2 = PyObject_IsTrue(exe);
            if (t2 < 0) erc = -1;
            if (t2 > 0) { /* posixpath.basename */
                Py_ssize_t n = PyUnicode_GET_LENGTH(exe);
                Py_ssize_t slash = PyUnicode_FindChar(exe, '/', 0, n, -1);
                PyObject *base = slash < -1 ? NULL : PyUnicode_Substring(exe, slash + 1, n);
                if (base == NULL) erc = -1;
                else {
                    erc = PyDict_SetItem(ev, e_OriginalFileName, base);
                    Py_DECREF(base);
                }
            }
        }
        if (erc < 0) {
            Py_XDECREF(ev);
            goto done;
        }
        if (append_wrapped(out, f->ls_pc, ev, meta) < 0) goto done;
        ok = 1;
        goto done;
    }
    /* the acting process: known, or named from SYSCALL and PROCTITLE */
    proc = pids_get(f, pid);
    if (proc == NULL && PyErr_Occurred()) goto done;
    Py_XINCREF(proc);
    int fresh = proc == NULL;
    if (!fresh && exe != NULL) {
        PyObject *img = info_get(f, proc, F_IMAGE);
        if (img == NULL) goto done;
        fresh = PyObject_RichCompareBool(img, exe, Py_NE);
        Py_DECREF(img);
        if (fresh < 0) goto done;
    }
    if (fresh) {
        PyObject *vals[NF] = {pid, ppid, exe, proctitle, user, cwd, time, ses, NULL, NULL, NULL, logon};
        Py_XSETREF(proc, new_info(f, vals));
        if (proc == NULL || pids_put(f, proc, pid) < 0) goto done;
    }
    PyObject *parent = pids_get(f, ppid);
    if (parent == NULL && PyErr_Occurred()) goto done;
    PyObject *p_image = info_get(f, proc, F_IMAGE), *p_pid = info_get(f, proc, F_PID),
             *p_user = info_get(f, proc, F_USER);
    PyObject *par_image = parent != NULL ? info_get(f, parent, F_IMAGE) : Py_NewRef(Py_None);
    int erc = (p_image == NULL || p_pid == NULL || p_user == NULL || par_image == NULL) ? -1 : 0;
    if (erc == 0 && sockaddr != NULL && (EQ(name_o, "connect") || EQ(name_o, "sendto") || EQ(name_o, "sendmsg"))) {
        PyObject *fam = dget(sockaddr, k_saddr_fam);
        if (fam == NULL && PyErr_Occurred()) erc = -1;
        int v6 = EQ(fam, "inet6");
        if (erc == 0 && (v6 || EQ(fam, "inet"))) {
            PyObject *ip = dget(sockaddr, k_laddr), *ip_s = NULL, *port = NULL, *host = NULL, *ev = NULL;
            if (ip == NULL && PyErr_Occurred()) erc = -1;
            if (erc == 0) {
                ip_s = ip == NULL || ip == Py_None ? Py_NewRef(Py_None) : PyObject_Str(ip);
                port = ip_s != NULL ? to_int(f, dget(sockaddr, k_lport)) : NULL;
                if (port == NULL && PyErr_Occurred()) erc = -1;
            }
            if (erc == 0) {
                host = dns_name(f, ip_s, time != NULL ? time : Py_None);
                if (host == NULL) erc = -1;
            }
            if (erc == 0) {
                ev = PyDict_New();
                if (ev == NULL) erc = -1;
            }
            if (erc == 0) erc = set_if(ev, e_Image, p_image);
            if (erc == 0) erc = set_if(ev, e_ProcessId, p_pid);
            if (erc == 0) erc = set_if(ev, e_User, p_user);
            if (erc == 0) {
                PyObject *cl = info_get(f, proc, F_CMDLINE);
                erc = cl == NULL ? -1 : set_if(ev, e_CommandLine, cl);
                Py_XDECREF(cl);
            }
            if (erc == 0) erc = set_if(ev, e_ParentImage, par_image);
            if (erc == 0) {
                /* _infer_protocol: port 0 on sendto/sendmsg is a raw probe; 53 is DNS */
                long pv = -1;
                if (PyLong_CheckExact(port)) {
                    pv = PyLong_AsLong(port);
                    if (pv == -1 && PyErr_Occurred()) {
                        PyErr_Clear();
                        pv = -2;
                    }
                }
                PyObject *proto = (!EQ(name_o, "connect") && pv == 0) ? s_icmp : pv == 53 ? s_udp : s_tcp;
                erc = PyDict_SetItem(ev, e_Protocol, proto);
            }
            if (erc == 0) erc = PyDict_SetItem(ev, e_Initiated, s_true);
            if (erc == 0) erc = set_if(ev, e_SourceIp, f->local_ip);
            if (erc == 0) erc = PyDict_SetItem(ev, e_SourceIsIpv6, v6 ? s_true : s_false);
            if (erc == 0) erc = set_if(ev, e_DestinationIp, ip_s);
            if (erc == 0) erc = set_if(ev, e_DestinationPort, port);
            if (erc == 0) erc = set_if(ev, e_DestinationHostname, host);
            if (erc == 0) erc = PyDict_SetItem(ev, e_DestinationIsIpv6, v6 ? s_true : s_false);
            Py_XDECREF(ip_s);
            Py_XDECREF(port);
            Py_XDECREF(host);
            if (erc == 0) {
                erc = append_wrapped(out, f->ls_net, ev, meta);
            } else {
                Py_XDECREF(ev);
            }
        }
    }
    if (erc == 0 && np > 0) {
        for (Py_ssize_t i = 0; i < np && erc == 0; i++) erc = note_inode(f, paths[i]);
        for (Py_ssize_t i = 0; i < np && erc == 0; i++) {
            PyObject *p = paths[i];
            PyObject *nt = dget(p, k_nametype);
            if (nt == NULL && PyErr_Occurred()) {
                erc = -1;
                break;
            }
            int create = EQ(nt, "CREATE");
            if (!create && !EQ(nt, "DELETE")) continue;
            PyObject *mode = dget(p, k_mode);
            if (mode == NULL && PyErr_Occurred()) {
                erc = -1;
                break;
            }
            PyObject *ms = mode == NULL ? Py_NewRef(s_empty) : PyObject_Str(mode);
            if (ms == NULL) {
                erc = -1;
                break;
            }
            int dir = PyUnicode_GET_LENGTH(ms) >= 2 && PyUnicode_READ_CHAR(ms, 0) == '0' &&
                      PyUnicode_READ_CHAR(ms, 1) == '4';
            Py_DECREF(ms);
            if (dir) continue; /* a directory, not a file */
            PyObject *path = resolve_path(f, p, paths, np, sc, cwd);
            if (path == NULL) {
                erc = -1;
                break;
            }
            if (path == Py_None) {
                Py_DECREF(path);
                continue;
            }
            PyObject *ev = PyDict_New();
            if (ev == NULL) erc = -1;
            if (erc == 0) erc = set_if(ev, e_Image, p_image);
            if (erc == 0) erc = set_if(ev, e_ProcessId, p_pid);
            if (erc == 0) erc = set_if(ev, e_User, p_user);
            if (erc == 0) erc = set_if(ev, e_TargetFilename, path);
            Py_DECREF(path);
            if (erc == 0) {
                erc = append_wrapped(out, create ? f->ls_file : f->ls_del, ev, meta);
            } else {
                Py_XDECREF(ev);
            }
        }
    }
    Py_XDECREF(p_image);
    Py_XDECREF(p_pid);
    Py_XDECREF(p_user);
    Py_XDECREF(par_image);
    ok = erc == 0;
done:
    if (paths != pathbuf) PyMem_Free(paths);
    Py_XDECREF(pid);
    Py_XDECREF(ppid);
    Py_XDECREF(proc);
    Py_XDECREF(name_o);
    Py_XDECREF(user);
    if (!ok) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

