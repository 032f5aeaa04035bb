"""x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).

Generated once from the host's ``asm/unistd_64.h``; ``NAMES`` lists every
number so the table can give each one a row.
"""

from __future__ import annotations

READ = 0
WRITE = 1
OPEN = 2
CLOSE = 3
STAT = 4
FSTAT = 5
LSTAT = 6
POLL = 7
LSEEK = 8
MMAP = 9
MPROTECT = 10
MUNMAP = 11
BRK = 12
RT_SIGACTION = 13
RT_SIGPROCMASK = 14
RT_SIGRETURN = 15
IOCTL = 16
PREAD64 = 17
PWRITE64 = 18
READV = 19
WRITEV = 20
ACCESS = 21
PIPE = 22
SELECT = 23
SCHED_YIELD = 24
MREMAP = 25
MSYNC = 26
MINCORE = 27
MADVISE = 28
SHMGET = 29
SHMAT = 30
SHMCTL = 31
DUP = 32
DUP2 = 33
PAUSE = 34
NANOSLEEP = 35
GETITIMER = 36
ALARM = 37
SETITIMER = 38
GETPID = 39
SENDFILE = 40
SOCKET = 41
CONNECT = 42
ACCEPT = 43
SENDTO = 44
RECVFROM = 45
SENDMSG = 46
RECVMSG = 47
SHUTDOWN = 48
BIND = 49
LISTEN = 50
GETSOCKNAME = 51
GETPEERNAME = 52
SOCKETPAIR = 53
SETSOCKOPT = 54
GETSOCKOPT = 55
CLONE = 56
FORK = 57
VFORK = 58
EXECVE = 59
EXIT = 60
WAIT4 = 61
KILL = 62
UNAME = 63
SEMGET = 64
SEMOP = 65
SEMCTL = 66
SHMDT = 67
MSGGET = 68
MSGSND = 69
MSGRCV = 70
MSGCTL = 71
FCNTL = 72
FLOCK = 73
FSYNC = 74
FDATASYNC = 75
TRUNCATE = 76
FTRUNCATE = 77
GETDENTS = 78
GETCWD = 79
CHDIR = 80
FCHDIR = 81
RENAME = 82
MKDIR = 83
RMDIR = 84
CREAT = 85
LINK = 86
UNLINK = 87
SYMLINK = 88
READLINK = 89
CHMOD = 90
FCHMOD = 91
CHOWN = 92
FCHOWN = 93
LCHOWN = 94
UMASK = 95
GETTIMEOFDAY = 96
GETRLIMIT = 97
GETRUSAGE = 98
SYSINFO = 99
TIMES = 100
PTRACE = 101
GETUID = 102
SYSLOG = 103
GETGID = 104
SETUID = 105
SETGID = 106
GETEUID = 107
GETEGID = 108
SETPGID = 109
GETPPID = 110
GETPGRP = 111
SETSID = 112
SETREUID = 113
SETREGID = 114
GETGROUPS = 115
SETGROUPS = 116
SETRESUID = 117
GETRESUID = 118
SETRESGID = 119
GETRESGID = 120
GETPGID = 121
SETFSUID = 122
SETFSGID = 123
GETSID = 124
CAPGET = 125
CAPSET = 126
RT_SIGPENDING = 127
RT_SIGTIMEDWAIT = 128
RT_SIGQUEUEINFO = 129
RT_SIGSUSPEND = 130
SIGALTSTACK = 131
UTIME = 132
MKNOD = 133
USELIB = 134
PERSONALITY = 135
USTAT = 136
STATFS = 137
FSTATFS = 138
SYSFS = 139
GETPRIORITY = 140
SETPRIORITY = 141
SCHED_SETPARAM = 142
SCHED_GETPARAM = 143
SCHED_SETSCHEDULER = 144
SCHED_GETSCHEDULER = 145
SCHED_GET_PRIORITY_MAX = 146
SCHED_GET_PRIORITY_MIN = 147
SCHED_RR_GET_INTERVAL = 148
MLOCK = 149
MUNLOCK = 150
MLOCKALL = 151
MUNLOCKALL = 152
VHANGUP = 153
MODIFY_LDT = 154
PIVOT_ROOT = 155
_SYSCTL = 156
PRCTL = 157
ARCH_PRCTL = 158
ADJTIMEX = 159
SETRLIMIT = 160
CHROOT = 161
SYNC = 162
ACCT = 163
SETTIMEOFDAY = 164
MOUNT = 165
UMOUNT2 = 166
SWAPON = 167
SWAPOFF = 168
REBOOT = 169
SETHOSTNAME = 170
SETDOMAINNAME = 171
IOPL = 172
IOPERM = 173
CREATE_MODULE = 174
INIT_MODULE = 175
DELETE_MODULE = 176
GET_KERNEL_SYMS = 177
QUERY_MODULE = 178
QUOTACTL = 179
NFSSERVCTL = 180
GETPMSG = 181
PUTPMSG = 182
AFS_SYSCALL = 183
TUXCALL = 184
SECURITY = 185
GETTID = 186
READAHEAD = 187
SETXATTR = 188
LSETXATTR = 189
FSETXATTR = 190
GETXATTR = 191
LGETXATTR = 192
FGETXATTR = 193
LISTXATTR = 194
LLISTXATTR = 195
FLISTXATTR = 196
REMOVEXATTR = 197
LREMOVEXATTR = 198
FREMOVEXATTR = 199
TKILL = 200
TIME = 201
FUTEX = 202
SCHED_SETAFFINITY = 203
SCHED_GETAFFINITY = 204
SET_THREAD_AREA = 205
IO_SETUP = 206
IO_DESTROY = 207
IO_GETEVENTS = 208
IO_SUBMIT = 209
IO_CANCEL = 210
GET_THREAD_AREA = 211
LOOKUP_DCOOKIE = 212
EPOLL_CREATE = 213
EPOLL_CTL_OLD = 214
EPOLL_WAIT_OLD = 215
REMAP_FILE_PAGES = 216
GETDENTS64 = 217
SET_TID_ADDRESS = 218
RESTART_SYSCALL = 219
SEMTIMEDOP = 220
FADVISE64 = 221
TIMER_CREATE = 222
TIMER_SETTIME = 223
TIMER_GETTIME = 224
TIMER_GETOVERRUN = 225
TIMER_DELETE = 226
CLOCK_SETTIME = 227
CLOCK_GETTIME = 228
CLOCK_GETRES = 229
CLOCK_NANOSLEEP = 230
EXIT_GROUP = 231
EPOLL_WAIT = 232
EPOLL_CTL = 233
TGKILL = 234
UTIMES = 235
VSERVER = 236
MBIND = 237
SET_MEMPOLICY = 238
GET_MEMPOLICY = 239
MQ_OPEN = 240
MQ_UNLINK = 241
MQ_TIMEDSEND = 242
MQ_TIMEDRECEIVE = 243
MQ_NOTIFY = 244
MQ_GETSETATTR = 245
KEXEC_LOAD = 246
WAITID = 247
ADD_KEY = 248
REQUEST_KEY = 249
KEYCTL = 250
IOPRIO_SET = 251
IOPRIO_GET = 252
INOTIFY_INIT = 253
INOTIFY_ADD_WATCH = 254
INOTIFY_RM_WATCH = 255
MIGRATE_PAGES = 256
OPENAT = 257
MKDIRAT = 258
MKNODAT = 259
FCHOWNAT = 260
FUTIMESAT = 261
NEWFSTATAT = 262
UNLINKAT = 263
RENAMEAT = 264
LINKAT = 265
SYMLINKAT = 266
READLINKAT = 267
FCHMODAT = 268
FACCESSAT = 269
PSELECT6 = 270
PPOLL = 271
UNSHARE = 272
SET_ROBUST_LIST = 273
GET_ROBUST_LIST = 274
SPLICE = 275
TEE = 276
SYNC_FILE_RANGE = 277
VMSPLICE = 278
MOVE_PAGES = 279
UTIMENSAT = 280
EPOLL_PWAIT = 281
SIGNALFD = 282
TIMERFD_CREATE = 283
EVENTFD = 284
FALLOCATE = 285
TIMERFD_SETTIME = 286
TIMERFD_GETTIME = 287
ACCEPT4 = 288
SIGNALFD4 = 289
EVENTFD2 = 290
EPOLL_CREATE1 = 291
DUP3 = 292
PIPE2 = 293
INOTIFY_INIT1 = 294
PREADV = 295
PWRITEV = 296
RT_TGSIGQUEUEINFO = 297
PERF_EVENT_OPEN = 298
RECVMMSG = 299
FANOTIFY_INIT = 300
FANOTIFY_MARK = 301
PRLIMIT64 = 302
NAME_TO_HANDLE_AT = 303
OPEN_BY_HANDLE_AT = 304
CLOCK_ADJTIME = 305
SYNCFS = 306
SENDMMSG = 307
SETNS = 308
GETCPU = 309
PROCESS_VM_READV = 310
PROCESS_VM_WRITEV = 311
KCMP = 312
FINIT_MODULE = 313
SCHED_SETATTR = 314
SCHED_GETATTR = 315
RENAMEAT2 = 316
SECCOMP = 317
GETRANDOM = 318
MEMFD_CREATE = 319
KEXEC_FILE_LOAD = 320
BPF = 321
EXECVEAT = 322
USERFAULTFD = 323
MEMBARRIER = 324
MLOCK2 = 325
COPY_FILE_RANGE = 326
PREADV2 = 327
PWRITEV2 = 328
PKEY_MPROTECT = 329
PKEY_ALLOC = 330
PKEY_FREE = 331
STATX = 332
IO_PGETEVENTS = 333
RSEQ = 334
PIDFD_SEND_SIGNAL = 424
IO_URING_SETUP = 425
IO_URING_ENTER = 426
IO_URING_REGISTER = 427
OPEN_TREE = 428
MOVE_MOUNT = 429
FSOPEN = 430
FSCONFIG = 431
FSMOUNT = 432
FSPICK = 433
PIDFD_OPEN = 434
CLONE3 = 435
CLOSE_RANGE = 436
OPENAT2 = 437
PIDFD_GETFD = 438
FACCESSAT2 = 439
PROCESS_MADVISE = 440
EPOLL_PWAIT2 = 441
MOUNT_SETATTR = 442
QUOTACTL_FD = 443
LANDLOCK_CREATE_RULESET = 444
LANDLOCK_ADD_RULE = 445
LANDLOCK_RESTRICT_SELF = 446
MEMFD_SECRET = 447
PROCESS_MRELEASE = 448
FUTEX_WAITV = 449
SET_MEMPOLICY_HOME_NODE = 450
CACHESTAT = 451
FCHMODAT2 = 452
MAP_SHADOW_STACK = 453
FUTEX_WAKE = 454
FUTEX_WAIT = 455
FUTEX_REQUEUE = 456
STATMOUNT = 457
LISTMOUNT = 458
LSM_GET_SELF_ATTR = 459
LSM_SET_SELF_ATTR = 460
LSM_LIST_MODULES = 461
MSEAL = 462

#: number -> Linux name, for every x86_64 system call.
NAMES: dict[int, str] = {
    0: "read",
    1: "write",
    2: "open",
    3: "close",
    4: "stat",
    5: "fstat",
    6: "lstat",
    7: "poll",
    8: "lseek",
    9: "mmap",
    10: "mprotect",
    11: "munmap",
    12: "brk",
    13: "rt_sigaction",
    14: "rt_sigprocmask",
    15: "rt_sigreturn",
    16: "ioctl",
    17: "pread64",
    18: "pwrite64",
    19: "readv",
    20: "writev",
    21: "access",
    22: "pipe",
    23: "select",
    24: "sched_yield",
    25: "mremap",
    26: "msync",
    27: "mincore",
    28: "madvise",
    29: "shmget",
    30: "shmat",
    31: "shmctl",
    32: "dup",
    33: "dup2",
    34: "pause",
    35: "nanosleep",
    36: "getitimer",
    37: "alarm",
    38: "setitimer",
    39: "getpid",
    40: "sendfile",
    41: "socket",
    42: "connect",
    43: "accept",
    44: "sendto",
    45: "recvfrom",
    46: "sendmsg",
    47: "recvmsg",
    48: "shutdown",
    49: "bind",
    50: "listen",
    51: "getsockname",
    52: "getpeername",
    53: "socketpair",
    54: "setsockopt",
    55: "getsockopt",
    56: "clone",
    57: "fork",
    58: "vfork",
    59: "execve",
    60: "exit",
    61: "wait4",
    62: "kill",
    63: "uname",
    64: "semget",
    65: "semop",
    66: "semctl",
    67: "shmdt",
    68: "msgget",
    69: "msgsnd",
    70: "msgrcv",
    71: "msgctl",
    72: "fcntl",
    73: "flock",
    74: "fsync",
    75: "fdatasync",
    76: "truncate",
    77: "ftruncate",
    78: "getdents",
    79: "getcwd",
    80: "chdir",
    81: "fchdir",
    82: "rename",
    83: "mkdir",
    84: "rmdir",
    85: "creat",
    86: "link",
    87: "unlink",
    88: "symlink",
    89: "readlink",
    90: "chmod",
    91: "fchmod",
    92: "chown",
    93: "fchown",
    94: "lchown",
    95: "umask",
    96: "gettimeofday",
    97: "getrlimit",
    98: "getrusage",
    99: "sysinfo",
    100: "times",
    101: "ptrace",
    102: "getuid",
    103: "syslog",
    104: "getgid",
    105: "setuid",
    106: "setgid",
    107: "geteuid",
    108: "getegid",
    109: "setpgid",
    110: "getppid",
    111: "getpgrp",
    112: "setsid",
    113: "setreuid",
    114: "setregid",
    115: "getgroups",
    116: "setgroups",
    117: "setresuid",
    118: "getresuid",
    119: "setresgid",
    120: "getresgid",
    121: "getpgid",
    122: "setfsuid",
    123: "setfsgid",
    124: "getsid",
    125: "capget",
    126: "capset",
    127: "rt_sigpending",
    128: "rt_sigtimedwait",
    129: "rt_sigqueueinfo",
    130: "rt_sigsuspend",
    131: "sigaltstack",
    132: "utime",
    133: "mknod",
    134: "uselib",
    135: "personality",
    136: "ustat",
    137: "statfs",
    138: "fstatfs",
    139: "sysfs",
    140: "getpriority",
    141: "setpriority",
    142: "sched_setparam",
    143: "sched_getparam",
    144: "sched_setscheduler",
    145: "sched_getscheduler",
    146: "sched_get_priority_max",
    147: "sched_get_priority_min",
    148: "sched_rr_get_interval",
    149: "mlock",
    150: "munlock",
    151: "mlockall",
    152: "munlockall",
    153: "vhangup",
    154: "modify_ldt",
    155: "pivot_root",
    156: "_sysctl",
    157: "prctl",
    158: "arch_prctl",
    159: "adjtimex",
    160: "setrlimit",
    161: "chroot",
    162: "sync",
    163: "acct",
    164: "settimeofday",
    165: "mount",
    166: "umount2",
    167: "swapon",
    168: "swapoff",
    169: "reboot",
    170: "sethostname",
    171: "setdomainname",
    172: "iopl",
    173: "ioperm",
    174: "create_module",
    175: "init_module",
    176: "delete_module",
    177: "get_kernel_syms",
    178: "query_module",
    179: "quotactl",
    180: "nfsservctl",
    181: "getpmsg",
    182: "putpmsg",
    183: "afs_syscall",
    184: "tuxcall",
    185: "security",
    186: "gettid",
    187: "readahead",
    188: "setxattr",
    189: "lsetxattr",
    190: "fsetxattr",
    191: "getxattr",
    192: "lgetxattr",
    193: "fgetxattr",
    194: "listxattr",
    195: "llistxattr",
    196: "flistxattr",
    197: "removexattr",
    198: "lremovexattr",
    199: "fremovexattr",
    200: "tkill",
    201: "time",
    202: "futex",
    203: "sched_setaffinity",
    204: "sched_getaffinity",
    205: "set_thread_area",
    206: "io_setup",
    207: "io_destroy",
    208: "io_getevents",
    209: "io_submit",
    210: "io_cancel",
    211: "get_thread_area",
    212: "lookup_dcookie",
    213: "epoll_create",
    214: "epoll_ctl_old",
    215: "epoll_wait_old",
    216: "remap_file_pages",
    217: "getdents64",
    218: "set_tid_address",
    219: "restart_syscall",
    220: "semtimedop",
    221: "fadvise64",
    222: "timer_create",
    223: "timer_settime",
    224: "timer_gettime",
    225: "timer_getoverrun",
    226: "timer_delete",
    227: "clock_settime",
    228: "clock_gettime",
    229: "clock_getres",
    230: "clock_nanosleep",
    231: "exit_group",
    232: "epoll_wait",
    233: "epoll_ctl",
    234: "tgkill",
    235: "utimes",
    236: "vserver",
    237: "mbind",
    238: "set_mempolicy",
    239: "get_mempolicy",
    240: "mq_open",
    241: "mq_unlink",
    242: "mq_timedsend",
    243: "mq_timedreceive",
    244: "mq_notify",
    245: "mq_getsetattr",
    246: "kexec_load",
    247: "waitid",
    248: "add_key",
    249: "request_key",
    250: "keyctl",
    251: "ioprio_set",
    252: "ioprio_get",
    253: "inotify_init",
    254: "inotify_add_watch",
    255: "inotify_rm_watch",
    256: "migrate_pages",
    257: "openat",
    258: "mkdirat",
    259: "mknodat",
    260: "fchownat",
    261: "futimesat",
    262: "newfstatat",
    263: "unlinkat",
    264: "renameat",
    265: "linkat",
    266: "symlinkat",
    267: "readlinkat",
    268: "fchmodat",
    269: "faccessat",
    270: "pselect6",
    271: "ppoll",
    272: "unshare",
    273: "set_robust_list",
    274: "get_robust_list",
    275: "splice",
    276: "tee",
    277: "sync_file_range",
    278: "vmsplice",
    279: "move_pages",
    280: "utimensat",
    281: "epoll_pwait",
    282: "signalfd",
    283: "timerfd_create",
    284: "eventfd",
    285: "fallocate",
    286: "timerfd_settime",
    287: "timerfd_gettime",
    288: "accept4",
    289: "signalfd4",
    290: "eventfd2",
    291: "epoll_create1",
    292: "dup3",
    293: "pipe2",
    294: "inotify_init1",
    295: "preadv",
    296: "pwritev",
    297: "rt_tgsigqueueinfo",
    298: "perf_event_open",
    299: "recvmmsg",
    300: "fanotify_init",
    301: "fanotify_mark",
    302: "prlimit64",
    303: "name_to_handle_at",
    304: "open_by_handle_at",
    305: "clock_adjtime",
    306: "syncfs",
    307: "sendmmsg",
    308: "setns",
    309: "getcpu",
    310: "process_vm_readv",
    311: "process_vm_writev",
    312: "kcmp",
    313: "finit_module",
    314: "sched_setattr",
    315: "sched_getattr",
    316: "renameat2",
    317: "seccomp",
    318: "getrandom",
    319: "memfd_create",
    320: "kexec_file_load",
    321: "bpf",
    322: "execveat",
    323: "userfaultfd",
    324: "membarrier",
    325: "mlock2",
    326: "copy_file_range",
    327: "preadv2",
    328: "pwritev2",
    329: "pkey_mprotect",
    330: "pkey_alloc",
    331: "pkey_free",
    332: "statx",
    333: "io_pgetevents",
    334: "rseq",
    424: "pidfd_send_signal",
    425: "io_uring_setup",
    426: "io_uring_enter",
    427: "io_uring_register",
    428: "open_tree",
    429: "move_mount",
    430: "fsopen",
    431: "fsconfig",
    432: "fsmount",
    433: "fspick",
    434: "pidfd_open",
    435: "clone3",
    436: "close_range",
    437: "openat2",
    438: "pidfd_getfd",
    439: "faccessat2",
    440: "process_madvise",
    441: "epoll_pwait2",
    442: "mount_setattr",
    443: "quotactl_fd",
    444: "landlock_create_ruleset",
    445: "landlock_add_rule",
    446: "landlock_restrict_self",
    447: "memfd_secret",
    448: "process_mrelease",
    449: "futex_waitv",
    450: "set_mempolicy_home_node",
    451: "cachestat",
    452: "fchmodat2",
    453: "map_shadow_stack",
    454: "futex_wake",
    455: "futex_wait",
    456: "futex_requeue",
    457: "statmount",
    458: "listmount",
    459: "lsm_get_self_attr",
    460: "lsm_set_self_attr",
    461: "lsm_list_modules",
    462: "mseal",
}
