/*
 * tslvs raw packet I/O addon: AF_PACKET sockets, TUN/TAP devices, uv_poll readiness.
 *
 * Design rules (see docs in src/io/addon.ts):
 *  - JS owns every buffer. recvBatch/sendBatch work on a caller's Uint8Array (frames in fixed slots,
 *    or at any offset for sends) plus an Int32Array of META_STRIDE ints per frame. The per-call scratch
 *    (mmsghdr, iovec, control buffers) lives in per-environment instance data allocated once, so the
 *    packet path allocates nothing and each worker_thread has its own scratch.
 *  - Syscall failures on the packet path (recv/send/read/write) come back as -errno numbers; only
 *    argument mistakes throw. Setup calls (open, fanout, filters, tun) throw Error objects whose
 *    .code is the errno name, as Node's own fs/net errors do.
 *  - Context aware (NAPI_MODULE_INIT) so it loads in worker_threads; open poll handles are closed
 *    by an async cleanup hook so a worker that exits with a live poll does not leave libuv handles
 *    behind (uv_loop_close would abort).
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

/* Largest batch per call; sendmmsg/recvmmsg clamp vlen to UIO_MAXIOV (1024) anyway. */
#define MAX_BATCH 1024

/* Per-frame metadata layout: META_STRIDE int32 per frame. Mirrored in src/io/types.ts (Meta). */
enum {
  M_OFF = 0,           /* byte offset of the frame in the buffer */
  M_LEN = 1,           /* bytes of the frame present in the buffer */
  M_PKTTYPE = 2,       /* sll_pkttype: PACKET_HOST, _BROADCAST, _MULTICAST, _OTHERHOST, _OUTGOING */
  M_STATUS = 3,        /* auxdata tp_status (TP_STATUS_*), bit 31 = frame truncated to the slot */
  M_WIRELEN = 4,       /* original frame length (auxdata tp_len) */
  M_VLAN_TCI = 5,      /* stripped VLAN tag, valid when STATUS has TP_STATUS_VLAN_VALID */
  M_VLAN_TPID = 6,     /* its TPID, valid when STATUS has TP_STATUS_VLAN_TPID_VALID */
  M_IFINDEX = 7,       /* receiving interface index */
  M_PROTOCOL = 8,      /* sll_protocol in host order (ethertype after any VLAN strip) */
  M_VNET_FLAGS = 9,    /* virtio_net_hdr fields (PACKET_VNET_HDR / IFF_VNET_HDR only) */
  M_VNET_GSO_TYPE = 10,
  M_VNET_HDR_LEN = 11,
  M_VNET_GSO_SIZE = 12,
  M_VNET_CSUM_START = 13,
  M_VNET_CSUM_OFFSET = 14,
  M_RESERVED = 15,
  META_STRIDE = 16,
};

#define STATUS_TRUNC ((uint32_t)1 << 31)

typedef struct addon_state addon_state;

typedef struct poll_ctx {
  uv_poll_t handle; /* first member: the uv_handle_t* in the close callback is the ctx */
  napi_env env;
  addon_state *st; /* NULL once the instance data is gone */
  napi_ref cb;
  napi_async_context actx;
  napi_async_cleanup_hook_handle hook;
  struct poll_ctx *prev, *next;
  int fd;
  int id;
  int closing;
} poll_ctx;

typedef struct ring_ctx {
  struct ring_ctx *next;
  int id;
  int fd;
  uint8_t *map;
  size_t map_len;
  unsigned block_size, block_nr, next_block;
  uint32_t consumed; /* frames of next_block already copied out by earlier ringRead calls */
} ring_ctx;

union ctrl_buf {
  _Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
};

struct addon_state {
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH][2];
  struct sockaddr_ll addrs[MAX_BATCH];
  union ctrl_buf ctrl[MAX_BATCH];
  struct virtio_net_hdr vnet[MAX_BATCH];
  poll_ctx *polls;
  ring_ctx *rings;
  int next_id;
};

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                           */

static void throw_kind(napi_env env, int kind, const char *code, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  if (kind == 1)
    napi_throw_type_error(env, code, msg);
  else if (kind == 2)
    napi_throw_range_error(env, code, msg);
  else
    napi_throw_error(env, code, msg);
}

#define THROW_TYPE(env, ...) throw_kind((env), 1, "ERR_INVALID_ARG_TYPE", __VA_ARGS__)
#define THROW_RANGE(env, ...) throw_kind((env), 2, "ERR_OUT_OF_RANGE", __VA_ARGS__)

/*
 * System error as a JS Error: message "CODE: text", .code = errno name, .errno = -errno (Node's
 * convention), .syscall. text is `custom` when given, else "strerror, syscall detail".
 */
static void throw_sys(napi_env env, int err, const char *syscall, const char *detail, const char *custom) {
  char code[48], estr[128], msg[384];
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  uv_err_name_r(-err, code, sizeof code);
  if (custom) {
    snprintf(msg, sizeof msg, "%s: %s", code, custom);
  } else {
    const char *s = strerror_r(err, estr, sizeof estr);
    snprintf(msg, sizeof msg, "%s: %s, %s%s%s", code, s, syscall, detail ? " " : "", detail ? detail : "");
  }
  napi_value jcode, jmsg, jerr, jerrno, jsys;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error(env, jcode, jmsg, &jerr);
  napi_create_int32(env, -err, &jerrno);
  napi_set_named_property(env, jerr, "errno", jerrno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &jsys);
  napi_set_named_property(env, jerr, "syscall", jsys);
  napi_throw(env, jerr);
}

/* ---------------------------------------------------------------------------------------------- */
/* Arguments                                                                                        */

static bool is_undef(napi_env env, napi_value v) {
  napi_valuetype t;
  if (v == NULL) return true;
  if (napi_typeof(env, v, &t) != napi_ok) return true;
  return t == napi_undefined || t == napi_null;
}

static bool arg_int(napi_env env, napi_value v, const char *name, int64_t lo, int64_t hi, int64_t *out) {
  double d;
  if (v == NULL || napi_get_value_double(env, v, &d) != napi_ok) {
    THROW_TYPE(env, "%s must be a number", name);
    return false;
  }
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) {
    THROW_RANGE(env, "%s must be an integer in [%lld, %lld]", name, (long long)lo, (long long)hi);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static bool arg_fd(napi_env env, napi_value v, int *fd) {
  int64_t x;
  if (!arg_int(env, v, "fd", 0, INT32_MAX, &x)) return false;
  *fd = (int)x;
  return true;
}

static bool arg_typed(napi_env env, napi_value v, const char *name, napi_typedarray_type want, const char *tname,
                      void **data, size_t *len) {
  napi_typedarray_type t;
  size_t n, bo;
  void *d;
  napi_value ab;
  if (v == NULL || napi_get_typedarray_info(env, v, &t, &n, &d, &ab, &bo) != napi_ok || t != want) {
    THROW_TYPE(env, "%s must be a %s", name, tname);
    return false;
  }
  *data = d;
  *len = n;
  return true;
}

static bool arg_u8(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len) {
  return arg_typed(env, v, name, napi_uint8_array, "Uint8Array", (void **)data, len);
}

static bool arg_i32(napi_env env, napi_value v, const char *name, int32_t **data, size_t *len) {
  return arg_typed(env, v, name, napi_int32_array, "Int32Array", (void **)data, len);
}

static bool arg_bool(napi_env env, napi_value v, bool dflt, bool *out) {
  if (is_undef(env, v)) {
    *out = dflt;
    return true;
  }
  if (napi_coerce_to_bool(env, v, &v) != napi_ok || napi_get_value_bool(env, v, out) != napi_ok) {
    THROW_TYPE(env, "expected a boolean");
    return false;
  }
  return true;
}

/* Interface name: a string shorter than IFNAMSIZ without NUL bytes ("" allowed when allow_empty). */
static bool arg_ifname(napi_env env, napi_value v, bool allow_empty, char out[IFNAMSIZ]) {
  char buf[64];
  size_t n = 0;
  if (v == NULL || napi_get_value_string_utf8(env, v, buf, sizeof buf, &n) != napi_ok) {
    THROW_TYPE(env, "interface name must be a string");
    return false;
  }
  if (n >= IFNAMSIZ || strlen(buf) != n || (!allow_empty && n == 0)) {
    THROW_RANGE(env, "interface name must be 1..%d bytes without NUL", IFNAMSIZ - 1);
    return false;
  }
  memcpy(out, buf, n + 1);
  return true;
}

static napi_value opt_get(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  bool has = false;
  if (obj == NULL || is_undef(env, obj)) return NULL;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return NULL;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return NULL;
  return is_undef(env, v) ? NULL : v;
}

static bool opt_bool(napi_env env, napi_value obj, const char *key, bool dflt, bool *out) {
  return arg_bool(env, opt_get(env, obj, key), dflt, out);
}

static bool opt_int(napi_env env, napi_value obj, const char *key, int64_t dflt, int64_t lo, int64_t hi,
                    int64_t *out) {
  napi_value v = opt_get(env, obj, key);
  if (v == NULL) {
    *out = dflt;
    return true;
  }
  return arg_int(env, v, key, lo, hi, out);
}

static napi_value mk_int(napi_env env, int64_t x) {
  napi_value v;
  napi_create_int64(env, x, &v);
  return v;
}

static napi_value mk_undef(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

static addon_state *get_state(napi_env env) {
  void *p = NULL;
  napi_get_instance_data(env, &p);
  return p;
}

/* ---------------------------------------------------------------------------------------------- */
/* AF_PACKET sockets                                                                                */

static int set_int_opt(int fd, int level, int name, int val) {
  return setsockopt(fd, level, name, &val, sizeof val);
}

/* Socket buffer size: the FORCE variant needs CAP_NET_ADMIN; without it fall back to the capped one. */
static int set_buf(int fd, int force_opt, int opt, int bytes) {
  if (set_int_opt(fd, SOL_SOCKET, force_opt, bytes) == 0) return 0;
  if (errno != EPERM) return -1;
  return set_int_opt(fd, SOL_SOCKET, opt, bytes);
}

/* open(ifname, opts) → fd. ifname "" binds to every interface. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ifname[IFNAMSIZ];
  if (!arg_ifname(env, argv[0], true, ifname)) return NULL;
  napi_value o = argv[1];
  int64_t proto, rcvbuf, sndbuf;
  bool ign_out, auxdata, vnet, qbypass, promisc;
  if (!opt_int(env, o, "protocol", ETH_P_ALL, 0, 0xffff, &proto) ||
      !opt_int(env, o, "rcvbuf", 4 << 20, 0, INT32_MAX / 2, &rcvbuf) ||
      !opt_int(env, o, "sndbuf", 4 << 20, 0, INT32_MAX / 2, &sndbuf) ||
      !opt_bool(env, o, "ignoreOutgoing", true, &ign_out) || !opt_bool(env, o, "auxdata", true, &auxdata) ||
      !opt_bool(env, o, "vnetHdr", false, &vnet) || !opt_bool(env, o, "qdiscBypass", false, &qbypass) ||
      !opt_bool(env, o, "promisc", false, &promisc))
    return NULL;

  unsigned ifindex = 0;
  if (ifname[0]) {
    ifindex = if_nametoindex(ifname);
    if (ifindex == 0) {
      int e = errno ? errno : ENODEV;
      char custom[64];
      snprintf(custom, sizeof custom, "no such interface %s", ifname);
      throw_sys(env, e, "if_nametoindex", ifname, e == ENODEV ? custom : NULL);
      return NULL;
    }
  }
  if (promisc && ifindex == 0) {
    THROW_RANGE(env, "promisc needs an interface name");
    return NULL;
  }

  /* Protocol 0 until bind: the socket queues nothing from other interfaces while being set up. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_sys(env, errno, "socket", "AF_PACKET", NULL);
    return NULL;
  }
  const char *what = NULL;
  if (ign_out && set_int_opt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) < 0)
    what = "PACKET_IGNORE_OUTGOING";
  else if (auxdata && set_int_opt(fd, SOL_PACKET, PACKET_AUXDATA, 1) < 0)
    what = "PACKET_AUXDATA";
  else if (vnet && set_int_opt(fd, SOL_PACKET, PACKET_VNET_HDR, 1) < 0)
    what = "PACKET_VNET_HDR";
  else if (qbypass && set_int_opt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1) < 0)
    what = "PACKET_QDISC_BYPASS";
  else if (rcvbuf > 0 && set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, (int)rcvbuf) < 0)
    what = "SO_RCVBUFFORCE";
  else if (sndbuf > 0 && set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, (int)sndbuf) < 0)
    what = "SO_SNDBUFFORCE";
  if (what) {
    int e = errno;
    close(fd);
    throw_sys(env, e, "setsockopt", what, NULL);
    return NULL;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons((uint16_t)proto);
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int e = errno;
    close(fd);
    throw_sys(env, e, "bind", ifname, NULL);
    return NULL;
  }
  if (promisc) {
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = (int)ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
      int e = errno;
      close(fd);
      throw_sys(env, e, "setsockopt", "PACKET_ADD_MEMBERSHIP", NULL);
      return NULL;
    }
  }
  return mk_int(env, fd);
}

static void meta_clear_vnet(int32_t *m) {
  m[M_VNET_FLAGS] = 0;
  m[M_VNET_GSO_TYPE] = 0;
  m[M_VNET_HDR_LEN] = 0;
  m[M_VNET_GSO_SIZE] = 0;
  m[M_VNET_CSUM_START] = 0;
  m[M_VNET_CSUM_OFFSET] = 0;
}

static void meta_put_vnet(int32_t *m, const struct virtio_net_hdr *h) {
  m[M_VNET_FLAGS] = h->flags;
  m[M_VNET_GSO_TYPE] = h->gso_type;
  m[M_VNET_HDR_LEN] = h->hdr_len;
  m[M_VNET_GSO_SIZE] = h->gso_size;
  m[M_VNET_CSUM_START] = h->csum_start;
  m[M_VNET_CSUM_OFFSET] = h->csum_offset;
}

static void meta_get_vnet(const int32_t *m, struct virtio_net_hdr *h) {
  h->flags = (uint8_t)m[M_VNET_FLAGS];
  h->gso_type = (uint8_t)m[M_VNET_GSO_TYPE];
  h->hdr_len = (uint16_t)m[M_VNET_HDR_LEN];
  h->gso_size = (uint16_t)m[M_VNET_GSO_SIZE];
  h->csum_start = (uint16_t)m[M_VNET_CSUM_START];
  h->csum_offset = (uint16_t)m[M_VNET_CSUM_OFFSET];
}

/* Common arguments of the batch receive calls: (fd, buf, meta, max, slotSize[, vnet]). */
typedef struct {
  int fd;
  uint8_t *buf;
  int32_t *meta;
  int max;
  size_t slot;
  bool vnet;
} rx_args;

static bool parse_rx_args(napi_env env, napi_callback_info info, rx_args *a) {
  size_t argc = 6;
  napi_value argv[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  size_t blen, mlen;
  int64_t max, slot;
  if (!arg_fd(env, argv[0], &a->fd) || !arg_u8(env, argv[1], "buf", &a->buf, &blen) ||
      !arg_i32(env, argv[2], "meta", &a->meta, &mlen) || !arg_int(env, argv[3], "max", 0, MAX_BATCH, &max) ||
      !arg_int(env, argv[4], "slotSize", 1, INT32_MAX, &slot) || !arg_bool(env, argv[5], false, &a->vnet))
    return false;
  if ((uint64_t)max * (uint64_t)slot > blen) {
    THROW_RANGE(env, "buf holds %zu bytes, max*slotSize needs %lld", blen, (long long)(max * slot));
    return false;
  }
  if ((uint64_t)max * META_STRIDE > mlen) {
    THROW_RANGE(env, "meta holds %zu ints, max*%d needs %lld", mlen, META_STRIDE, (long long)(max * META_STRIDE));
    return false;
  }
  a->max = (int)max;
  a->slot = (size_t)slot;
  return true;
}

/*
 * recvBatch(fd, buf, meta, max, slotSize[, vnetHdr]) → n ≥ 0 frames (0 when nothing is queued), or
 * -errno. Frame i lands at buf[i*slotSize]; meta[i*META_STRIDE ...] describes it.
 */
static napi_value js_recv_batch(napi_env env, napi_callback_info info) {
  addon_state *st = get_state(env);
  rx_args a;
  if (!parse_rx_args(env, info, &a)) return NULL;
  if (a.max == 0) return mk_int(env, 0);
  for (int i = 0; i < a.max; i++) {
    struct msghdr *h = &st->msgs[i].msg_hdr;
    struct iovec *iov = st->iov[i];
    if (a.vnet) {
      iov[0].iov_base = &st->vnet[i];
      iov[0].iov_len = sizeof(struct virtio_net_hdr);
      iov[1].iov_base = a.buf + (size_t)i * a.slot;
      iov[1].iov_len = a.slot;
      h->msg_iovlen = 2;
    } else {
      iov[0].iov_base = a.buf + (size_t)i * a.slot;
      iov[0].iov_len = a.slot;
      h->msg_iovlen = 1;
    }
    h->msg_iov = iov;
    h->msg_name = &st->addrs[i];
    h->msg_namelen = sizeof(struct sockaddr_ll);
    h->msg_control = st->ctrl[i].buf;
    h->msg_controllen = sizeof st->ctrl[i].buf;
    h->msg_flags = 0;
  }
  int n = recvmmsg(a.fd, st->msgs, (unsigned)a.max, MSG_DONTWAIT, NULL);
  if (n < 0) {
    int e = errno;
    return mk_int(env, (e == EAGAIN || e == EWOULDBLOCK || e == EINTR) ? 0 : -e);
  }
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &st->msgs[i].msg_hdr;
    const struct sockaddr_ll *sll = &st->addrs[i];
    int32_t *m = a.meta + (size_t)i * META_STRIDE;
    uint32_t len = st->msgs[i].msg_len;
    if (a.vnet) len = len >= sizeof(struct virtio_net_hdr) ? len - (uint32_t)sizeof(struct virtio_net_hdr) : 0;
    uint32_t status = 0, wirelen = len, tci = 0, tpid = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
          c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
        struct tpacket_auxdata aux;
        memcpy(&aux, CMSG_DATA(c), sizeof aux);
        status = aux.tp_status;
        wirelen = aux.tp_len;
        tci = aux.tp_vlan_tci;
        tpid = aux.tp_vlan_tpid;
      }
    }
    if (h->msg_flags & MSG_TRUNC) status |= STATUS_TRUNC;
    m[M_OFF] = (int32_t)((size_t)i * a.slot);
    m[M_LEN] = (int32_t)len;
    m[M_PKTTYPE] = sll->sll_pkttype;
    m[M_STATUS] = (int32_t)status;
    m[M_WIRELEN] = (int32_t)wirelen;
    m[M_VLAN_TCI] = (int32_t)tci;
    m[M_VLAN_TPID] = (int32_t)tpid;
    m[M_IFINDEX] = sll->sll_ifindex;
    m[M_PROTOCOL] = ntohs(sll->sll_protocol);
    if (a.vnet)
      meta_put_vnet(m, &st->vnet[i]);
    else
      meta_clear_vnet(m);
    m[M_RESERVED] = 0;
  }
  return mk_int(env, n);
}

/* Common arguments of the batch send calls: (fd, buf, meta, first, count[, vnet]). */
typedef struct {
  int fd;
  uint8_t *buf;
  int32_t *meta;
  int first, count;
  bool vnet;
} tx_args;

static bool parse_tx_args(napi_env env, napi_callback_info info, tx_args *a) {
  size_t argc = 6;
  napi_value argv[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  size_t blen, mlen;
  int64_t first, count;
  if (!arg_fd(env, argv[0], &a->fd) || !arg_u8(env, argv[1], "buf", &a->buf, &blen) ||
      !arg_i32(env, argv[2], "meta", &a->meta, &mlen) ||
      !arg_int(env, argv[3], "first", 0, INT32_MAX / META_STRIDE, &first) ||
      !arg_int(env, argv[4], "count", 0, INT32_MAX / META_STRIDE, &count) || !arg_bool(env, argv[5], false, &a->vnet))
    return false;
  if ((uint64_t)(first + count) * META_STRIDE > mlen) {
    THROW_RANGE(env, "meta holds %zu ints, entries %lld..%lld do not fit", mlen, (long long)first,
                (long long)(first + count - 1));
    return false;
  }
  if (count > MAX_BATCH) count = MAX_BATCH; /* the caller sees a partial send and continues */
  for (int64_t i = first; i < first + count; i++) {
    const int32_t *m = a->meta + i * META_STRIDE;
    if (m[M_OFF] < 0 || m[M_LEN] < 0 || (uint64_t)m[M_OFF] + (uint64_t)m[M_LEN] > blen) {
      THROW_RANGE(env, "meta entry %lld (offset %d, length %d) is outside buf (%zu bytes)", (long long)i, m[M_OFF],
                  m[M_LEN], blen);
      return false;
    }
  }
  a->first = (int)first;
  a->count = (int)count;
  return true;
}

/*
 * sendBatch(fd, buf, meta, first, count[, vnetHdr]) → frames sent (may be fewer than count), or
 * -errno when the first one failed (-EAGAIN/-ENOBUFS: socket full; others: that frame is bad).
 */
static napi_value js_send_batch(napi_env env, napi_callback_info info) {
  addon_state *st = get_state(env);
  tx_args a;
  if (!parse_tx_args(env, info, &a)) return NULL;
  if (a.count == 0) return mk_int(env, 0);
  for (int i = 0; i < a.count; i++) {
    const int32_t *m = a.meta + (size_t)(a.first + i) * META_STRIDE;
    struct msghdr *h = &st->msgs[i].msg_hdr;
    struct iovec *iov = st->iov[i];
    memset(h, 0, sizeof *h);
    if (a.vnet) {
      meta_get_vnet(m, &st->vnet[i]);
      iov[0].iov_base = &st->vnet[i];
      iov[0].iov_len = sizeof(struct virtio_net_hdr);
      iov[1].iov_base = a.buf + m[M_OFF];
      iov[1].iov_len = (size_t)m[M_LEN];
      h->msg_iovlen = 2;
    } else {
      iov[0].iov_base = a.buf + m[M_OFF];
      iov[0].iov_len = (size_t)m[M_LEN];
      h->msg_iovlen = 1;
    }
    h->msg_iov = iov;
  }
  int n = sendmmsg(a.fd, st->msgs, (unsigned)a.count, MSG_DONTWAIT);
  return mk_int(env, n >= 0 ? n : -errno);
}

/* fanout(fd, groupId, mode, flags): join a PACKET_FANOUT group (created by the first member). */
static napi_value js_fanout(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4] = {NULL, NULL, NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  int64_t group, mode, flags = 0;
  if (!arg_fd(env, argv[0], &fd) || !arg_int(env, argv[1], "groupId", 0, 0xffff, &group) ||
      !arg_int(env, argv[2], "mode", 0, 0xff, &mode))
    return NULL;
  if (!is_undef(env, argv[3]) && !arg_int(env, argv[3], "flags", 0, 0xff00, &flags)) return NULL;
  int val = (int)(group | ((mode | flags) << 16));
  if (set_int_opt(fd, SOL_PACKET, PACKET_FANOUT, val) < 0) {
    throw_sys(env, errno, "setsockopt", "PACKET_FANOUT", NULL);
    return NULL;
  }
  return mk_undef(env);
}

/*
 * Classic BPF program from an Int32Array of 4 ints per instruction (code, jt, jf, k), the layout
 * `tcpdump -dd` prints. Returns a malloc'd array (setup path only) or NULL with an exception.
 */
static struct sock_filter *arg_bpf(napi_env env, napi_value v, unsigned short *count) {
  int32_t *d;
  size_t n;
  if (!arg_i32(env, v, "program", &d, &n)) return NULL;
  if (n == 0 || n % 4 != 0 || n / 4 > BPF_MAXINSNS) {
    THROW_RANGE(env, "program must hold 1..%d instructions of 4 ints (code, jt, jf, k)", BPF_MAXINSNS);
    return NULL;
  }
  size_t k = n / 4;
  struct sock_filter *f = calloc(k, sizeof *f);
  if (!f) {
    throw_sys(env, ENOMEM, "calloc", NULL, NULL);
    return NULL;
  }
  for (size_t i = 0; i < k; i++) {
    int32_t code = d[4 * i], jt = d[4 * i + 1], jf = d[4 * i + 2];
    if (code < 0 || code > 0xffff || jt < 0 || jt > 0xff || jf < 0 || jf > 0xff) {
      free(f);
      THROW_RANGE(env, "instruction %zu: code must fit 16 bits and jt/jf 8 bits", i);
      return NULL;
    }
    f[i].code = (uint16_t)code;
    f[i].jt = (uint8_t)jt;
    f[i].jf = (uint8_t)jf;
    f[i].k = (uint32_t)d[4 * i + 3];
  }
  *count = (unsigned short)k;
  return f;
}

static napi_value set_bpf(napi_env env, napi_callback_info info, int level, int opt, const char *optname) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  if (!arg_fd(env, argv[0], &fd)) return NULL;
  unsigned short len = 0;
  struct sock_filter *f = arg_bpf(env, argv[1], &len);
  if (!f) return NULL;
  struct sock_fprog prog = {.len = len, .filter = f};
  int r = setsockopt(fd, level, opt, &prog, sizeof prog);
  int e = errno;
  free(f);
  if (r < 0) {
    throw_sys(env, e, "setsockopt", optname, NULL);
    return NULL;
  }
  return mk_undef(env);
}

/* attachFilter(fd, program): SO_ATTACH_FILTER. Offsets are from the Ethernet header. */
static napi_value js_attach_filter(napi_env env, napi_callback_info info) {
  return set_bpf(env, info, SOL_SOCKET, SO_ATTACH_FILTER, "SO_ATTACH_FILTER");
}

static napi_value js_detach_filter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd, dummy = 0;
  if (!arg_fd(env, argv[0], &fd)) return NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof dummy) < 0 && errno != ENOENT) {
    throw_sys(env, errno, "setsockopt", "SO_DETACH_FILTER", NULL);
    return NULL;
  }
  return mk_undef(env);
}

/*
 * attachFanoutFilter(fd, program | bpfFd): PACKET_FANOUT_DATA for a group in PACKET_FANOUT_CBPF
 * (classic program, Int32Array) or PACKET_FANOUT_EBPF mode (a loaded eBPF program fd, number).
 */
static napi_value js_attach_fanout_filter(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  if (!arg_fd(env, argv[0], &fd)) return NULL;
  napi_valuetype t = napi_undefined;
  if (argv[1]) napi_typeof(env, argv[1], &t);
  if (t == napi_number) {
    int64_t pfd;
    if (!arg_int(env, argv[1], "bpfFd", 0, INT32_MAX, &pfd)) return NULL;
    if (set_int_opt(fd, SOL_PACKET, PACKET_FANOUT_DATA, (int)pfd) < 0) {
      throw_sys(env, errno, "setsockopt", "PACKET_FANOUT_DATA", NULL);
      return NULL;
    }
    return mk_undef(env);
  }
  return set_bpf(env, info, SOL_PACKET, PACKET_FANOUT_DATA, "PACKET_FANOUT_DATA");
}

/* stats(fd) → [packets, drops] since the previous call (the kernel resets them on every read). */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  if (!arg_fd(env, argv[0], &fd)) return NULL;
  struct tpacket_stats_v3 s; /* a prefix-compatible superset of struct tpacket_stats */
  memset(&s, 0, sizeof s);
  socklen_t len = sizeof s;
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &s, &len) < 0) {
    throw_sys(env, errno, "getsockopt", "PACKET_STATISTICS", NULL);
    return NULL;
  }
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, mk_int(env, s.tp_packets));
  napi_set_element(env, arr, 1, mk_int(env, s.tp_drops));
  return arr;
}

/* ---------------------------------------------------------------------------------------------- */
/* Interfaces                                                                                       */

static void set_prop(napi_env env, napi_value obj, const char *key, napi_value v) {
  napi_set_named_property(env, obj, key, v);
}

static napi_value mk_bool(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

/* ifInfo(ifname) → {name, index, mac, hwtype, mtu, flags, up, running}. Needs no privileges. */
static napi_value js_if_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ];
  if (!arg_ifname(env, argv[0], false, name)) return NULL;
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* any socket reaches the SIOCGIF* ioctls */
  if (s < 0) {
    throw_sys(env, errno, "socket", "AF_UNIX", NULL);
    return NULL;
  }
  struct ifreq r_idx, r_hw, r_mtu, r_flags;
  const char *fail = NULL;
  memset(&r_idx, 0, sizeof r_idx);
  memcpy(r_idx.ifr_name, name, IFNAMSIZ);
  r_hw = r_mtu = r_flags = r_idx;
  if (ioctl(s, SIOCGIFINDEX, &r_idx) < 0)
    fail = "SIOCGIFINDEX";
  else if (ioctl(s, SIOCGIFHWADDR, &r_hw) < 0)
    fail = "SIOCGIFHWADDR";
  else if (ioctl(s, SIOCGIFMTU, &r_mtu) < 0)
    fail = "SIOCGIFMTU";
  else if (ioctl(s, SIOCGIFFLAGS, &r_flags) < 0)
    fail = "SIOCGIFFLAGS";
  int e = errno;
  close(s);
  if (fail) {
    char custom[64];
    snprintf(custom, sizeof custom, "no such interface %s", name);
    throw_sys(env, e, "ioctl", fail, e == ENODEV ? custom : NULL);
    return NULL;
  }
  const uint8_t *hw = (const uint8_t *)r_hw.ifr_hwaddr.sa_data;
  char mac[18];
  snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", hw[0], hw[1], hw[2], hw[3], hw[4], hw[5]);
  unsigned flags = (unsigned short)r_flags.ifr_flags;
  napi_value o, jmac;
  napi_create_object(env, &o);
  napi_value jname;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jname);
  set_prop(env, o, "name", jname);
  set_prop(env, o, "index", mk_int(env, r_idx.ifr_ifindex));
  napi_create_string_utf8(env, mac, NAPI_AUTO_LENGTH, &jmac);
  set_prop(env, o, "mac", jmac);
  set_prop(env, o, "hwtype", mk_int(env, r_hw.ifr_hwaddr.sa_family));
  set_prop(env, o, "mtu", mk_int(env, r_mtu.ifr_mtu));
  set_prop(env, o, "flags", mk_int(env, flags));
  set_prop(env, o, "up", mk_bool(env, (flags & IFF_UP) != 0));
  set_prop(env, o, "running", mk_bool(env, (flags & IFF_RUNNING) != 0));
  return o;
}

/* ---------------------------------------------------------------------------------------------- */
/* TUN/TAP                                                                                          */

/* openTun(name, {tap, vnetHdr, multiQueue, offload}) → {fd, name}. name "" lets the kernel pick. */
static napi_value js_open_tun(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ];
  if (!arg_ifname(env, argv[0], true, name)) return NULL;
  bool tap, vnet, mq;
  int64_t offload;
  if (!opt_bool(env, argv[1], "tap", false, &tap) || !opt_bool(env, argv[1], "vnetHdr", false, &vnet) ||
      !opt_bool(env, argv[1], "multiQueue", false, &mq) || !opt_int(env, argv[1], "offload", -1, -1, 0xff, &offload))
    return NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_sys(env, errno, "open", "/dev/net/tun", NULL);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  ifr.ifr_flags = (short)((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) |
                          (mq ? IFF_MULTI_QUEUE : 0));
  const char *what = NULL;
  int hdrsz = (int)sizeof(struct virtio_net_hdr);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0)
    what = "TUNSETIFF";
  else if (vnet && ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0)
    what = "TUNSETVNETHDRSZ";
  else if (offload >= 0 && ioctl(fd, TUNSETOFFLOAD, (unsigned long)offload) < 0)
    what = "TUNSETOFFLOAD";
  if (what) {
    int e = errno;
    close(fd);
    throw_sys(env, e, "ioctl", what, NULL);
    return NULL;
  }
  napi_value o, jname;
  napi_create_object(env, &o);
  set_prop(env, o, "fd", mk_int(env, fd));
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &jname);
  set_prop(env, o, "name", jname);
  return o;
}

/* readFd/writeFd(fd, buf, off, len) → bytes, or -errno (-EAGAIN when not ready). */
static napi_value fd_io(napi_env env, napi_callback_info info, bool write_dir) {
  size_t argc = 4;
  napi_value argv[4] = {NULL, NULL, NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  uint8_t *buf;
  size_t blen;
  int64_t off, len;
  if (!arg_fd(env, argv[0], &fd) || !arg_u8(env, argv[1], "buf", &buf, &blen) ||
      !arg_int(env, argv[2], "off", 0, INT32_MAX, &off) || !arg_int(env, argv[3], "len", 0, INT32_MAX, &len))
    return NULL;
  if ((uint64_t)off + (uint64_t)len > blen) {
    THROW_RANGE(env, "off+len (%lld) is past the end of buf (%zu)", (long long)(off + len), blen);
    return NULL;
  }
  ssize_t r = write_dir ? write(fd, buf + off, (size_t)len) : read(fd, buf + off, (size_t)len);
  return mk_int(env, r >= 0 ? (int64_t)r : -(int64_t)errno);
}

static napi_value js_read_fd(napi_env env, napi_callback_info info) { return fd_io(env, info, false); }
static napi_value js_write_fd(napi_env env, napi_callback_info info) { return fd_io(env, info, true); }

/*
 * readBatch(fd, buf, meta, max, slotSize[, vnetHdr]) → n or -errno: up to max read()s from a TUN/TAP
 * fd into fixed slots, same meta layout as recvBatch (PKTTYPE is PACKET_HOST; STATUS only ever has
 * the truncation bit, set when a packet filled its slot completely).
 */
static napi_value js_read_batch(napi_env env, napi_callback_info info) {
  addon_state *st = get_state(env);
  rx_args a;
  if (!parse_rx_args(env, info, &a)) return NULL;
  int n = 0;
  for (; n < a.max; n++) {
    uint8_t *slot = a.buf + (size_t)n * a.slot;
    struct virtio_net_hdr *vh = &st->vnet[0];
    ssize_t r;
    if (a.vnet) {
      struct iovec iov[2] = {{vh, sizeof *vh}, {slot, a.slot}};
      r = readv(a.fd, iov, 2);
      if (r >= 0) r = r >= (ssize_t)sizeof *vh ? r - (ssize_t)sizeof *vh : 0;
    } else {
      r = read(a.fd, slot, a.slot);
    }
    if (r < 0) {
      int e = errno;
      if (n == 0 && e != EAGAIN && e != EWOULDBLOCK && e != EINTR) return mk_int(env, -e);
      break;
    }
    int32_t *m = a.meta + (size_t)n * META_STRIDE;
    memset(m, 0, META_STRIDE * sizeof *m);
    m[M_OFF] = (int32_t)((size_t)n * a.slot);
    /*
     * A tun read cuts a long packet silently (recent kernels return the bytes copied, older ones
     * the full length), so a slot filled to the brim counts as truncated: size slots above the MTU.
     */
    m[M_LEN] = (int32_t)((size_t)r > a.slot ? a.slot : (size_t)r);
    m[M_WIRELEN] = (int32_t)r;
    if ((size_t)r >= a.slot) m[M_STATUS] = (int32_t)STATUS_TRUNC;
    if (a.vnet) meta_put_vnet(m, vh);
  }
  return mk_int(env, n);
}

/* writeBatch(fd, buf, meta, first, count[, vnetHdr]) → frames written, or -errno if the first failed. */
static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  tx_args a;
  if (!parse_tx_args(env, info, &a)) return NULL;
  int i = 0;
  for (; i < a.count; i++) {
    const int32_t *m = a.meta + (size_t)(a.first + i) * META_STRIDE;
    ssize_t r;
    if (a.vnet) {
      struct virtio_net_hdr vh;
      meta_get_vnet(m, &vh);
      struct iovec iov[2] = {{&vh, sizeof vh}, {a.buf + m[M_OFF], (size_t)m[M_LEN]}};
      r = writev(a.fd, iov, 2);
    } else {
      r = write(a.fd, a.buf + m[M_OFF], (size_t)m[M_LEN]);
    }
    if (r < 0) {
      if (i == 0) return mk_int(env, -errno);
      break;
    }
  }
  return mk_int(env, i);
}

/* close(fd): stops this environment's polls on fd, then closes it. */
static void poll_release(poll_ctx *p);

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  if (!arg_fd(env, argv[0], &fd)) return NULL;
  addon_state *st = get_state(env);
  for (poll_ctx *p = st->polls, *nx; p; p = nx) {
    nx = p->next;
    if (p->fd == fd) poll_release(p);
  }
  if (close(fd) < 0 && errno != EINTR) {
    throw_sys(env, errno, "close", NULL, NULL);
    return NULL;
  }
  return mk_undef(env);
}

/* ---------------------------------------------------------------------------------------------- */
/* Readiness: uv_poll on the environment's own loop                                                 */

static void poll_closed(uv_handle_t *h) {
  poll_ctx *p = (poll_ctx *)h;
  if (p->hook) napi_remove_async_cleanup_hook(p->hook);
  free(p);
}

/* Idempotent: stop watching, drop the JS callback, close the handle (freed in poll_closed). */
static void poll_release(poll_ctx *p) {
  if (p->closing) return;
  p->closing = 1;
  if (p->st) {
    if (p->prev)
      p->prev->next = p->next;
    else
      p->st->polls = p->next;
    if (p->next) p->next->prev = p->prev;
    p->st = NULL;
  }
  p->prev = p->next = NULL;
  uv_poll_stop(&p->handle);
  if (p->cb) napi_delete_reference(p->env, p->cb);
  p->cb = NULL;
  if (p->actx) napi_async_destroy(p->env, p->actx);
  p->actx = NULL;
  uv_close((uv_handle_t *)&p->handle, poll_closed);
}

/*
 * Environment teardown (worker exit, process exit): Node waits for every async cleanup hook to be
 * removed, so the uv_close below completes before the loop is closed.
 */
static void poll_cleanup_hook(napi_async_cleanup_hook_handle h, void *arg) {
  (void)h;
  poll_release(arg);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poll_ctx *p = (poll_ctx *)h;
  if (p->closing || !p->cb) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[2];
  if (napi_get_reference_value(env, p->cb, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
    napi_create_int32(env, status, &argv[0]);
    napi_create_int32(env, events, &argv[1]);
    if (napi_make_callback(env, p->actx, recv, cb, 2, argv, NULL) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err); /* → process 'uncaughtException', as for any callback */
    }
  }
  napi_close_handle_scope(env, scope);
}

/* poll(fd, callback(status, events)[, events = 1]) → handle id. events: 1 readable, 2 writable. */
static napi_value js_poll(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {NULL, NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  int64_t events = UV_READABLE;
  napi_valuetype t = napi_undefined;
  if (!arg_fd(env, argv[0], &fd)) return NULL;
  if (argv[1]) napi_typeof(env, argv[1], &t);
  if (t != napi_function) {
    THROW_TYPE(env, "callback must be a function");
    return NULL;
  }
  if (!is_undef(env, argv[2]) && !arg_int(env, argv[2], "events", 1, 3, &events)) return NULL;
  addon_state *st = get_state(env);
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
    THROW_RANGE(env, "no event loop");
    return NULL;
  }
  poll_ctx *p = calloc(1, sizeof *p);
  if (!p) {
    throw_sys(env, ENOMEM, "calloc", NULL, NULL);
    return NULL;
  }
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r < 0) {
    free(p);
    throw_sys(env, -r, "uv_poll_init", NULL, NULL);
    return NULL;
  }
  p->env = env;
  p->fd = fd;
  napi_value rname;
  napi_create_string_utf8(env, "tslvs.afpacket.poll", NAPI_AUTO_LENGTH, &rname);
  if (napi_create_reference(env, argv[1], 1, &p->cb) != napi_ok ||
      napi_async_init(env, NULL, rname, &p->actx) != napi_ok ||
      napi_add_async_cleanup_hook(env, poll_cleanup_hook, p, &p->hook) != napi_ok) {
    poll_release(p);
    throw_kind(env, 0, "ERR_NAPI", "poll setup failed");
    return NULL;
  }
  p->st = st;
  p->id = ++st->next_id;
  p->next = st->polls;
  if (st->polls) st->polls->prev = p;
  st->polls = p;
  r = uv_poll_start(&p->handle, (int)events, on_poll);
  if (r < 0) {
    poll_release(p);
    throw_sys(env, -r, "uv_poll_start", NULL, NULL);
    return NULL;
  }
  return mk_int(env, p->id);
}

static poll_ctx *find_poll(addon_state *st, int64_t id) {
  for (poll_ctx *p = st->polls; p; p = p->next)
    if (p->id == id) return p;
  return NULL;
}

/* pollStop(handle) → true if it was active. Safe to call from inside the callback. */
static napi_value js_poll_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t id;
  if (!arg_int(env, argv[0], "handle", 0, INT32_MAX, &id)) return NULL;
  poll_ctx *p = find_poll(get_state(env), id);
  if (p) poll_release(p);
  return mk_bool(env, p != NULL);
}

/* pollUpdate(handle, events): change the watched events (e.g. add writable after -EAGAIN). */
static napi_value js_poll_update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t id, events;
  if (!arg_int(env, argv[0], "handle", 0, INT32_MAX, &id) || !arg_int(env, argv[1], "events", 1, 3, &events))
    return NULL;
  poll_ctx *p = find_poll(get_state(env), id);
  if (!p) {
    THROW_RANGE(env, "no active poll handle %lld", (long long)id);
    return NULL;
  }
  int r = uv_poll_start(&p->handle, (int)events, on_poll);
  if (r < 0) {
    throw_sys(env, -r, "uv_poll_start", NULL, NULL);
    return NULL;
  }
  return mk_undef(env);
}

/* ---------------------------------------------------------------------------------------------- */
/* Optional TPACKET_V3 RX ring                                                                      */

static ring_ctx *find_ring(addon_state *st, int64_t id) {
  for (ring_ctx *r = st->rings; r; r = r->next)
    if (r->id == id) return r;
  return NULL;
}

static void ring_free(ring_ctx *r) {
  if (r->map) munmap(r->map, r->map_len);
  free(r);
}

/*
 * ringOpen(fd, {blockSize, blockCount, frameSize, timeoutMs}) → handle id. Switches a fresh
 * AF_PACKET socket (before anything was received with recvBatch) to a TPACKET_V3 RX ring. Frames
 * are then read with ringRead, which copies them into the caller's slots: JS still owns the memory.
 */
static napi_value js_ring_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  int64_t bsize, bnr, fsize, tov;
  if (!arg_fd(env, argv[0], &fd) || !opt_int(env, argv[1], "blockSize", 1 << 18, 4096, 1 << 30, &bsize) ||
      !opt_int(env, argv[1], "blockCount", 64, 1, 64, &bnr) ||
      !opt_int(env, argv[1], "frameSize", 2048, TPACKET_ALIGNMENT, 1 << 30, &fsize) ||
      !opt_int(env, argv[1], "timeoutMs", 1, 1, 10000, &tov))
    return NULL;
  long page = sysconf(_SC_PAGESIZE);
  if (bsize % page != 0 || fsize % TPACKET_ALIGNMENT != 0 || fsize > bsize) {
    THROW_RANGE(env, "blockSize must be a multiple of %ld and frameSize a multiple of %d, at most blockSize", page,
                TPACKET_ALIGNMENT);
    return NULL;
  }
  if (set_int_opt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3) < 0) {
    throw_sys(env, errno, "setsockopt", "PACKET_VERSION", NULL);
    return NULL;
  }
  struct tpacket_req3 req;
  memset(&req, 0, sizeof req);
  req.tp_block_size = (unsigned)bsize;
  req.tp_block_nr = (unsigned)bnr;
  req.tp_frame_size = (unsigned)fsize;
  req.tp_frame_nr = (unsigned)((bsize / fsize) * bnr);
  req.tp_retire_blk_tov = (unsigned)tov;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
    throw_sys(env, errno, "setsockopt", "PACKET_RX_RING", NULL);
    return NULL;
  }
  /*
   * Frames queued before the ring existed stay on the socket's ordinary receive queue, and
   * packet_poll reports that queue as readable too: drain it, or poll would never go quiet.
   * New frames go to the ring now, so this terminates.
   */
  char scratch[1];
  while (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
  }
  size_t len = (size_t)bsize * (size_t)bnr;
  void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) {
    throw_sys(env, errno, "mmap", "PACKET_RX_RING", NULL);
    return NULL;
  }
  ring_ctx *r = calloc(1, sizeof *r);
  if (!r) {
    munmap(map, len);
    throw_sys(env, ENOMEM, "calloc", NULL, NULL);
    return NULL;
  }
  addon_state *st = get_state(env);
  r->fd = fd;
  r->map = map;
  r->map_len = len;
  r->block_size = (unsigned)bsize;
  r->block_nr = (unsigned)bnr;
  r->id = ++st->next_id;
  r->next = st->rings;
  st->rings = r;
  return mk_int(env, r->id);
}

/*
 * ringRead(handle, buf, meta, max, slotSize) → n. Copies up to max frames from retired blocks into
 * buf's slots (same meta as recvBatch) and hands each fully consumed block back to the kernel. A
 * partly consumed block stays with us and is resumed on the next call.
 */
static napi_value js_ring_read(napi_env env, napi_callback_info info) {
  addon_state *st = get_state(env);
  rx_args a;
  if (!parse_rx_args(env, info, &a)) return NULL;
  ring_ctx *r = find_ring(st, a.fd); /* first argument is the ring handle */
  if (!r) {
    THROW_RANGE(env, "no ring handle %d", a.fd);
    return NULL;
  }
  int n = 0;
  while (n < a.max) {
    struct tpacket_block_desc *bd = (void *)(r->map + (size_t)r->next_block * r->block_size);
    if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
    struct tpacket_hdr_v1 *bh = &bd->hdr.bh1;
    uint32_t done = r->consumed;
    uint8_t *p = (uint8_t *)bd + bh->offset_to_first_pkt;
    for (uint32_t k = 0; k < done; k++) p += ((struct tpacket3_hdr *)p)->tp_next_offset;
    uint32_t k = done;
    for (; k < bh->num_pkts && n < a.max; k++) {
      struct tpacket3_hdr *h = (void *)p;
      const struct sockaddr_ll *sll = (const void *)(p + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
      uint32_t snap = h->tp_snaplen, status = h->tp_status & 0xff;
      uint32_t copy = snap > a.slot ? (uint32_t)a.slot : snap;
      if (copy < h->tp_len) status |= STATUS_TRUNC;
      memcpy(a.buf + (size_t)n * a.slot, p + h->tp_mac, copy);
      int32_t *m = a.meta + (size_t)n * META_STRIDE;
      m[M_OFF] = (int32_t)((size_t)n * a.slot);
      m[M_LEN] = (int32_t)copy;
      m[M_PKTTYPE] = sll->sll_pkttype;
      m[M_STATUS] = (int32_t)status;
      m[M_WIRELEN] = (int32_t)h->tp_len;
      m[M_VLAN_TCI] = h->hv1.tp_vlan_tci;
      m[M_VLAN_TPID] = h->hv1.tp_vlan_tpid;
      m[M_IFINDEX] = sll->sll_ifindex;
      m[M_PROTOCOL] = ntohs(sll->sll_protocol);
      meta_clear_vnet(m);
      m[M_RESERVED] = 0;
      n++;
      p += h->tp_next_offset;
    }
    if (k < bh->num_pkts) {
      r->consumed = k;
      break;
    }
    r->consumed = 0;
    __atomic_store_n(&bh->block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    r->next_block = (r->next_block + 1) % r->block_nr;
  }
  return mk_int(env, n);
}

/* ringClose(handle): unmap the ring (the socket itself is closed with close()). */
static napi_value js_ring_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t id;
  if (!arg_int(env, argv[0], "handle", 0, INT32_MAX, &id)) return NULL;
  addon_state *st = get_state(env);
  for (ring_ctx **pp = &st->rings; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      ring_ctx *r = *pp;
      *pp = r->next;
      ring_free(r);
      return mk_bool(env, true);
    }
  }
  return mk_bool(env, false);
}

/* ---------------------------------------------------------------------------------------------- */
/* Module                                                                                           */

static void state_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  addon_state *st = data;
  for (poll_ctx *p = st->polls; p; p = p->next) p->st = NULL;
  for (ring_ctx *r = st->rings, *nx; r; r = nx) {
    nx = r->next;
    ring_free(r);
  }
  free(st);
}

static void add_const(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_set_named_property(env, obj, name, mk_int(env, v));
}

static napi_value make_constants(napi_env env) {
  napi_value c;
  napi_create_object(env, &c);
#define K(name, value) add_const(env, c, name, value)
  K("META_STRIDE", META_STRIDE);
  K("M_OFF", M_OFF);
  K("M_LEN", M_LEN);
  K("M_PKTTYPE", M_PKTTYPE);
  K("M_STATUS", M_STATUS);
  K("M_WIRELEN", M_WIRELEN);
  K("M_VLAN_TCI", M_VLAN_TCI);
  K("M_VLAN_TPID", M_VLAN_TPID);
  K("M_IFINDEX", M_IFINDEX);
  K("M_PROTOCOL", M_PROTOCOL);
  K("M_VNET_FLAGS", M_VNET_FLAGS);
  K("M_VNET_GSO_TYPE", M_VNET_GSO_TYPE);
  K("M_VNET_HDR_LEN", M_VNET_HDR_LEN);
  K("M_VNET_GSO_SIZE", M_VNET_GSO_SIZE);
  K("M_VNET_CSUM_START", M_VNET_CSUM_START);
  K("M_VNET_CSUM_OFFSET", M_VNET_CSUM_OFFSET);
  K("MAX_BATCH", MAX_BATCH);
  K("STATUS_TRUNC", (int32_t)STATUS_TRUNC);
  K("TP_STATUS_LOSING", TP_STATUS_LOSING);
  K("TP_STATUS_CSUMNOTREADY", TP_STATUS_CSUMNOTREADY);
  K("TP_STATUS_VLAN_VALID", TP_STATUS_VLAN_VALID);
  K("TP_STATUS_VLAN_TPID_VALID", TP_STATUS_VLAN_TPID_VALID);
  K("TP_STATUS_CSUM_VALID", TP_STATUS_CSUM_VALID);
  K("PACKET_HOST", PACKET_HOST);
  K("PACKET_BROADCAST", PACKET_BROADCAST);
  K("PACKET_MULTICAST", PACKET_MULTICAST);
  K("PACKET_OTHERHOST", PACKET_OTHERHOST);
  K("PACKET_OUTGOING", PACKET_OUTGOING);
  K("PACKET_FANOUT_HASH", PACKET_FANOUT_HASH);
  K("PACKET_FANOUT_LB", PACKET_FANOUT_LB);
  K("PACKET_FANOUT_CPU", PACKET_FANOUT_CPU);
  K("PACKET_FANOUT_ROLLOVER", PACKET_FANOUT_ROLLOVER);
  K("PACKET_FANOUT_RND", PACKET_FANOUT_RND);
  K("PACKET_FANOUT_QM", PACKET_FANOUT_QM);
  K("PACKET_FANOUT_CBPF", PACKET_FANOUT_CBPF);
  K("PACKET_FANOUT_EBPF", PACKET_FANOUT_EBPF);
  K("PACKET_FANOUT_FLAG_ROLLOVER", PACKET_FANOUT_FLAG_ROLLOVER);
  K("PACKET_FANOUT_FLAG_UNIQUEID", PACKET_FANOUT_FLAG_UNIQUEID);
  K("PACKET_FANOUT_FLAG_IGNORE_OUTGOING", PACKET_FANOUT_FLAG_IGNORE_OUTGOING);
  K("PACKET_FANOUT_FLAG_DEFRAG", PACKET_FANOUT_FLAG_DEFRAG);
  K("VIRTIO_NET_HDR_F_NEEDS_CSUM", VIRTIO_NET_HDR_F_NEEDS_CSUM);
  K("VIRTIO_NET_HDR_F_DATA_VALID", VIRTIO_NET_HDR_F_DATA_VALID);
  K("VIRTIO_NET_HDR_GSO_NONE", VIRTIO_NET_HDR_GSO_NONE);
  K("VIRTIO_NET_HDR_GSO_TCPV4", VIRTIO_NET_HDR_GSO_TCPV4);
  K("VIRTIO_NET_HDR_GSO_UDP", VIRTIO_NET_HDR_GSO_UDP);
  K("VIRTIO_NET_HDR_GSO_TCPV6", VIRTIO_NET_HDR_GSO_TCPV6);
  K("VIRTIO_NET_HDR_GSO_UDP_L4", VIRTIO_NET_HDR_GSO_UDP_L4);
  K("VIRTIO_NET_HDR_GSO_ECN", VIRTIO_NET_HDR_GSO_ECN);
  K("VIRTIO_NET_HDR_LEN", sizeof(struct virtio_net_hdr));
  K("ETH_P_ALL", ETH_P_ALL);
  K("SKF_NET_OFF", SKF_NET_OFF);
  K("SKF_LL_OFF", SKF_LL_OFF);
  K("UV_READABLE", UV_READABLE);
  K("UV_WRITABLE", UV_WRITABLE);
  K("IFF_UP", IFF_UP);
  K("IFF_RUNNING", IFF_RUNNING);
  K("IFF_PROMISC", IFF_PROMISC);
  K("EAGAIN", EAGAIN);
  K("EINTR", EINTR);
  K("ENOBUFS", ENOBUFS);
  K("EMSGSIZE", EMSGSIZE);
  K("ENETDOWN", ENETDOWN);
  K("ENXIO", ENXIO);
  K("EBADF", EBADF);
  K("EINVAL", EINVAL);
  K("EIO", EIO);
#undef K
  return c;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  addon_state *st = calloc(1, sizeof *st);
  if (!st || napi_set_instance_data(env, st, state_finalize, NULL) != napi_ok) {
    free(st);
    napi_throw_error(env, "ENOMEM", "afpacket: cannot allocate per-environment state");
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvBatch", NULL, js_recv_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, js_send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fanout", NULL, js_fanout, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attachFilter", NULL, js_attach_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"detachFilter", NULL, js_detach_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attachFanoutFilter", NULL, js_attach_fanout_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ifInfo", NULL, js_if_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openTun", NULL, js_open_tun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readFd", NULL, js_read_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeFd", NULL, js_write_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readBatch", NULL, js_read_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"poll", NULL, js_poll, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollStop", NULL, js_poll_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollUpdate", NULL, js_poll_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ringOpen", NULL, js_ring_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ringRead", NULL, js_ring_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ringClose", NULL, js_ring_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"constants", NULL, NULL, NULL, NULL, make_constants(env), napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
