// POSIX/Linux headers that Glibc's Swift module does not export.
#include <sys/xattr.h>
#include <malloc.h>
