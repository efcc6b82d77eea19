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

typedef struct {
    PyObject_HEAD
    PyObject *node, *stamp, *records;
    Py_ssize_t line;
    int complete, execve_parts, split_args;
} EvObject;

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

/* _auditd_tokens.c */
int af_tokens_init(void);
PyObject *parse_ascii(const char *line, Py_ssize_t n);
PyObject *configure(PyObject *self, PyObject *args);

/* _auditd_group.c */
int af_group_init(void);
extern PyTypeObject EvType;
int gr_traverse(GrouperObject *g, visitproc visit, void *arg);
int gr_clear(GrouperObject *g);
void gr_dealloc(GrouperObject *g);
PyObject *gr_new(PyTypeObject *type, PyObject *args, PyObject *kwds);
int pop_head(GrouperObject *g, int only_complete);
PyObject *parse_line(PyObject *self, PyObject *arg);
int feed(GrouperObject *g, PyObject *line);
int feed_parsed(GrouperObject *g, PyObject *line, const char *text, Py_ssize_t len);
int finish_line(GrouperObject *g, EvObject *ev, PyObject *rtype, PyObject *fields, PyObject *stamp, int slow);

#endif
