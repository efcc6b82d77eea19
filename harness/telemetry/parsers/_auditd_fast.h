/* Internal interface between the parts of the _auditd_fast extension (not a public API).
 *
 *   _auditd_tokens.c  the line tokenizer: parse_ascii, configure(), the caches and templates
 *   _auditd_group.c   the grouper: auditd.parse's event grouping loop, parse_line()
 *   _auditd_fast.c    the grouper's file reader, the Grouper type and the module itself
 *
 * Built with -fvisibility=hidden: these names are not exported from the shared object.
 */
#ifndef AUDITD_FAST_H
#define AUDITD_FAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>

/* ---- module state: everything the extension changes after import ------------------------
 * (the interned key strings and character classes are set once at import and never change).
 * configure() fills the Python side's tables; the string cache and the record templates fill
 * as lines are parsed. A Grouper keeps its module alive and reads this through g->st. */
#define CACHE_SLOTS 8192 /* small-string cache: keys and short values recur on every line */
#define TPL_SLOTS 64     /* record templates, by record type */
#define TPL_MAXPAIRS 96

typedef struct {
    PyObject *rtype, *dict, *keys[TPL_MAXPAIRS];
    Py_ssize_t npairs;
    unsigned hex_seen;
} Template;

typedef struct {
    PyObject *syscall_names;    /* dict: x86_64 syscall number (str) -> name */
    PyObject *sockaddr_decoder; /* callable: saddr hex -> dict */
    PyObject *sockaddr_cache;   /* the decoder's own cache (saddr hex -> dict), read here first */
    PyObject *cache[CACHE_SLOTS];
    Template templates[TPL_SLOTS];
} AfState;

typedef struct {
    PyObject_HEAD
    PyObject *node, *stamp, *records;
    Py_ssize_t line;
    int complete, execve_parts, split_args;
} EvObject;

typedef struct {
    PyObject_HEAD
    PyObject *module; /* strong: keeps st alive */
    AfState *st;
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

/* _auditd_tokens.c */
int af_tokens_init(void);
PyObject *parse_ascii(AfState *st, const char *line, Py_ssize_t n);
PyObject *configure(PyObject *module, PyObject *args);
int af_state_traverse(AfState *st, visitproc visit, void *arg);
void af_state_clear(AfState *st);

/* _auditd_fast.c */
PyObject *af_module(void); /* the imported module (borrowed), or NULL with an exception */

/* _auditd_group.c */
int af_group_init(void);
extern PyTypeObject EvType;
int gr_traverse(GrouperObject *g, visitproc visit, void *arg);
int gr_clear(GrouperObject *g);
void gr_dealloc(GrouperObject *g);
PyObject *gr_new(PyTypeObject *type, PyObject *args, PyObject *kwds);
int pop_head(GrouperObject *g, int only_complete);
PyObject *parse_line(PyObject *module, PyObject *arg);
int feed(GrouperObject *g, PyObject *line);
int feed_parsed(GrouperObject *g, PyObject *line, const char *text, Py_ssize_t len);
int finish_line(GrouperObject *g, EvObject *ev, PyObject *rtype, PyObject *fields, PyObject *stamp, int slow);

#endif
