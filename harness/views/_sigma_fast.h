/* Internal interface between the parts of the _sigma_fast extension (not a public API).
 *
 *   _sigma_event.c  the interned strings, helpers and event_list(): one auditd event's Sigma list
 *   _sigma_fast.c   the AuditdSigma type, stream() and the module itself
 *
 * Built with -fvisibility=hidden: these names are not exported from the shared object.
 */
#ifndef SIGMA_FAST_H
#define SIGMA_FAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <structmember.h>

/* interned keys and constant strings */
extern PyObject *k_type, *k_SYSCALL, *k_syscall, *k_pid, *k_ppid, *k_exe, *k_UID, *k_uid, *k_ses, *k_auid,
    *k_success, *k_proctitle, *k_cwd, *k_saddr_fam, *k_laddr, *k_lport, *k_name, *k_nametype, *k_dev, *k_inode,
    *k_mode, *k_logsource, *k_event, *k_meta, *k_source, *k_file, *k_line, *k_time;
extern PyObject *s_empty, *s_root, *s_true, *s_false, *s_tcp, *s_udp, *s_icmp, *s_auditd, *s_space;
extern PyObject *e_Image, *e_CommandLine, *e_CurrentDirectory, *e_User, *e_LogonId, *e_TerminalSessionId,
    *e_ProcessId, *e_ParentProcessId, *e_ParentImage, *e_ParentCommandLine, *e_ParentUser, *e_OriginalFileName,
    *e_Protocol, *e_Initiated, *e_SourceIp, *e_SourceIsIpv6, *e_DestinationIp, *e_DestinationPort,
    *e_DestinationHostname, *e_DestinationIsIpv6, *e_TargetFilename;
extern PyObject *m_move_to_end, *m_popitem, *m_name_for, *m_knows, *a_dns;
#define ARGKEYS 64
extern PyObject *argkeys[ARGKEYS]; /* "a0".."a63" */

/* ProcessInfo fields, in declaration order */
enum { F_PID, F_PPID, F_IMAGE, F_CMDLINE, F_USER, F_CWD, F_TIME, F_SESSION, F_GUID, F_PGUID, F_HASHES, F_LOGON, NF };
extern const char *FIELD_NAMES[NF];

typedef struct {
    PyObject_HEAD
    PyObject *extractor, *pids, *inodes, *info_type, *descr[NF];
    Py_ssize_t pid_cap;
    PyObject *local_ip, *max_age;
    PyObject *ls_raw, *ls_pc, *ls_net, *ls_file, *ls_del;
    PyObject *int_fn, *syscalls, *normpath, *resolve_path, *iso_fn;
    PyObject *last_time, *last_iso; /* meta time cache (stream) */
    int raw, meta;
} FastObject;

/* _sigma_event.c */
PyObject *to_int(FastObject *f, PyObject *v);
PyObject *resolve_path(FastObject *f, PyObject *p, PyObject **paths, Py_ssize_t np, PyObject *sc, PyObject *cwd);
PyObject *event_list(FastObject *f, PyObject *records, PyObject *time, PyObject *meta);

#endif
