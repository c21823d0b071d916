/*
 * afp-dr: the smallest LVS-DR forwarder a packet socket allows — the "afp-c-dr" ceiling reference
 * of `npm run bench:e2e` (docs/bench-e2e.md, "Ceiling references").
 *
 *   afp-dr IFNAME VIP DIRECTOR_MAC RS_MAC[,RS_MAC...] [PIN_PORT]
 *
 * It does what tslvsd's DR path must do at the very least, with nothing in between: one AF_PACKET
 * SOCK_RAW socket on IFNAME (ETH_P_ALL, PACKET_VNET_HDR so 64 KiB GSO super-frames come in whole
 * and go out whole with the same virtio_net_hdr, PACKET_IGNORE_OUTGOING, 8 MiB buffers as tslvsd
 * asks for), woken by a blocking epoll_wait, then drained with recvmmsg batches of 64 into fixed
 * slots. Per frame:
 *   - an ARP request for the VIP becomes our reply in place;
 *   - an IPv4 packet to the VIP (addressed to our MAC) gets destination MAC = one real server's,
 *     picked by a hash of (client address, client port) so a flow stays on one server, and source
 *     MAC = ours (or the switch would learn the client's MAC on our port);
 *     TCP/UDP to PIN_PORT always goes to the first real server (iperf3's control and data
 *     connections must meet on one server, as in tslvs's one-server 5201 service);
 *   - everything else is left to the host.
 * The batch goes back out with one sendmmsg from the same buffers. No connection table, no state,
 * no TTL decrement, no checksum work (partial checksums stay partial in the vnet header).
 *
 * SIGUSR2 prints the counters on one line; SIGTERM/SIGINT print them and exit. Built by the bench
 * with `cc -O2` into its run directory; never committed as a binary.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define BATCH 64
#define VNET_LEN ((unsigned)sizeof(struct virtio_net_hdr))
/* The vnet header, then the frame: up to 64 KiB of IP plus link header, with room to spare. */
#define SLOT (VNET_LEN + 65536 + 128)
#define MAX_RS 16
#define SOCK_BUF (8 << 20)

static uint8_t slots[BATCH][SLOT];
static struct mmsghdr rx[BATCH], tx[BATCH];
static struct iovec rx_iov[BATCH], tx_iov[BATCH];
static struct sockaddr_ll from[BATCH];

static uint32_t vip; /* network order, compared as stored in the frame */
static uint8_t dir_mac[6];
static uint8_t rs_mac[MAX_RS][6];
static unsigned n_rs;
static unsigned pin_port;

static struct {
  unsigned long long rx, batches, wakeups, forwarded, arp, ignored, truncated, tx, tx_errors, tx_blocked,
      kernel_drops;
} st;

static volatile sig_atomic_t want_report, want_exit;

static void on_signal(int sig) {
  if (sig == SIGUSR2)
    want_report = 1;
  else
    want_exit = 1;
}

static void die(const char *what) {
  fprintf(stderr, "afp-dr: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int parse_mac(const char *s, uint8_t out[6]) {
  unsigned b[6];
  char tail;
  if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (b[i] > 255) return -1;
    out[i] = (uint8_t)b[i];
  }
  return 0;
}

/* A flow's real server: an integer mix of (client address, client port), then modulo. node-dr.ts
 * uses the same function, so both ceilings spread the same flows the same way. */
static unsigned pick(uint32_t saddr, unsigned sport) {
  uint32_t h = saddr ^ (sport * 0x9e3779b1u);
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  return h % n_rs;
}

/* Rewrites the frame at f (len bytes, after the vnet header) in place; 1 if it goes back out. */
static int handle(uint8_t *f, unsigned len, unsigned pkttype) {
  if (len < ETH_HLEN) return 0;
  unsigned type = (unsigned)f[12] << 8 | f[13];
  if (type == ETH_P_IP) {
    const uint8_t *ip = f + ETH_HLEN;
    if (pkttype != PACKET_HOST || len < ETH_HLEN + 20 || ip[0] >> 4 != 4 || memcmp(ip + 16, &vip, 4) != 0)
      return 0;
    unsigned ihl = (ip[0] & 15u) * 4;
    uint32_t saddr = (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 | (uint32_t)ip[14] << 8 | ip[15];
    unsigned sport = 0, dport = 0;
    int fragment = (((unsigned)ip[6] << 8 | ip[7]) & 0x3fff) != 0; /* MF or an offset */
    if (!fragment && (ip[9] == IPPROTO_TCP || ip[9] == IPPROTO_UDP) && len >= ETH_HLEN + ihl + 4) {
      sport = (unsigned)ip[ihl] << 8 | ip[ihl + 1];
      dport = (unsigned)ip[ihl + 2] << 8 | ip[ihl + 3];
    }
    unsigned k = pin_port != 0 && dport == pin_port ? 0 : pick(saddr, sport);
    memcpy(f, rs_mac[k], 6);
    memcpy(f + 6, dir_mac, 6);
    st.forwarded++;
    return 1;
  }
  if (type == ETH_P_ARP) {
    uint8_t *a = f + ETH_HLEN;
    /* Ethernet/IPv4 request (htype 1, ptype 0x0800, 6/4, op 1) asking for the VIP. */
    if (len < ETH_HLEN + 28 || a[0] != 0 || a[1] != 1 || a[2] != 8 || a[3] != 0 || a[4] != 6 || a[5] != 4 ||
        a[6] != 0 || a[7] != 1 || memcmp(a + 24, &vip, 4) != 0)
      return 0;
    memmove(a + 18, a + 8, 10); /* the asker's MAC and address become the target */
    memcpy(a + 8, dir_mac, 6);
    memcpy(a + 14, &vip, 4);
    a[7] = 2;
    memcpy(f, a + 18, 6);
    memcpy(f + 6, dir_mac, 6);
    st.arp++;
    return 1;
  }
  return 0;
}

static void send_list(int fd, unsigned count) {
  unsigned done = 0;
  while (done < count) {
    int r = sendmmsg(fd, tx + done, count - done, MSG_DONTWAIT);
    if (r > 0) {
      done += (unsigned)r;
      st.tx += (unsigned)r;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      st.tx_blocked += count - done; /* socket buffer full: dropped, like a full NIC queue */
      return;
    } else {
      st.tx_errors++; /* this one frame was refused (ENOBUFS from veth, EMSGSIZE): skip it */
      done++;
    }
  }
}

/* Receive batches until one comes back short (the queue is empty). */
static void drain(int fd) {
  for (;;) {
    for (unsigned i = 0; i < BATCH; i++) rx[i].msg_hdr.msg_namelen = sizeof from[i];
    int n = recvmmsg(fd, rx, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) die("recvmmsg");
      return;
    }
    st.batches++;
    st.rx += (unsigned)n;
    unsigned k = 0;
    for (int i = 0; i < n; i++) {
      unsigned len = rx[i].msg_len;
      if ((rx[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || len < VNET_LEN) {
        st.truncated++;
        continue;
      }
      if (!handle(slots[i] + VNET_LEN, len - VNET_LEN, from[i].sll_pkttype)) {
        st.ignored++;
        continue;
      }
      tx_iov[k].iov_base = slots[i];
      tx_iov[k].iov_len = len; /* the vnet header as received, then the rewritten frame */
      k++;
    }
    if (k > 0) send_list(fd, k);
    if (n < BATCH) return;
  }
}

static void report(int fd) {
  struct tpacket_stats ks;
  socklen_t kl = sizeof ks;
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &ks, &kl) == 0) st.kernel_drops += ks.tp_drops;
  printf("afp-dr: rx %llu in %llu batches (%llu wakeups), forwarded %llu, arp replies %llu, ignored %llu, "
         "truncated %llu, tx %llu, tx errors %llu, tx blocked %llu, socket drops %llu\n",
         st.rx, st.batches, st.wakeups, st.forwarded, st.arp, st.ignored, st.truncated, st.tx, st.tx_errors,
         st.tx_blocked, st.kernel_drops);
  fflush(stdout);
}

static void set_opt(int fd, int level, int name, int val, const char *what) {
  if (setsockopt(fd, level, name, &val, sizeof val) < 0) die(what);
}

int main(int argc, char **argv) {
  if (argc < 5 || argc > 6) {
    fprintf(stderr, "usage: afp-dr IFNAME VIP DIRECTOR_MAC RS_MAC[,RS_MAC...] [PIN_PORT]\n");
    return 2;
  }
  if (inet_pton(AF_INET, argv[2], &vip) != 1 || parse_mac(argv[3], dir_mac) < 0) {
    fprintf(stderr, "afp-dr: bad VIP or director MAC\n");
    return 2;
  }
  for (char *save = NULL, *m = strtok_r(argv[4], ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
    if (n_rs == MAX_RS || parse_mac(m, rs_mac[n_rs]) < 0) {
      fprintf(stderr, "afp-dr: bad real server MAC list\n");
      return 2;
    }
    n_rs++;
  }
  if (n_rs == 0) return 2;
  if (argc == 6) pin_port = (unsigned)strtoul(argv[5], NULL, 10);
  unsigned ifindex = if_nametoindex(argv[1]);
  if (ifindex == 0) die(argv[1]);

  /* Protocol 0 until bind, so nothing from other interfaces is queued while setting up. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  set_opt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");
  set_opt(fd, SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR");
  set_opt(fd, SOL_SOCKET, SO_RCVBUFFORCE, SOCK_BUF, "SO_RCVBUFFORCE");
  set_opt(fd, SOL_SOCKET, SO_SNDBUFFORCE, SOCK_BUF, "SO_SNDBUFFORCE");
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex};
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind");

  for (unsigned i = 0; i < BATCH; i++) {
    rx_iov[i] = (struct iovec){.iov_base = slots[i], .iov_len = SLOT};
    rx[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_iov = &rx_iov[i], .msg_iovlen = 1};
    tx[i].msg_hdr = (struct msghdr){.msg_iov = &tx_iov[i], .msg_iovlen = 1};
  }

  /* The signals stay blocked except inside epoll_pwait, so a report request is never lost. */
  sigset_t block, during_wait;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &during_wait);
  sigdelset(&during_wait, SIGUSR2);
  sigdelset(&during_wait, SIGTERM);
  sigdelset(&during_wait, SIGINT);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");

  printf("afp-dr: forwarding %s on %s to %u real servers (pinned port %u)\n", argv[2], argv[1], n_rs, pin_port);
  fflush(stdout);
  for (;;) {
    int r = epoll_pwait(ep, &ev, 1, -1, &during_wait);
    if (want_report) {
      want_report = 0;
      report(fd);
    }
    if (want_exit) {
      report(fd);
      return 0;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    st.wakeups++;
    drain(fd);
  }
}
