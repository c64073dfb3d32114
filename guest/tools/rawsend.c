/*
 * rawsend IFNAME: sends raw Ethernet frames, one per line of hex on stdin,
 * out of IFNAME (AF_PACKET), and prints how many it sent. A test tool: the
 * cross-tenant test (test/e2e/cross-tenant.test.ts) runs it inside an attacker
 * VM to send what a hostile guest could (forged VXLAN, RAs, NAs, foreign MACs);
 * busybox cannot craft those. Static, no dependencies:
 *
 *   gcc -static -O2 -o rawsend guest/tools/rawsend.c
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: rawsend IFNAME < frames.hex\n");
    return 2;
  }
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) { perror("socket"); return 1; }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = (int)if_nametoindex(argv[1]);
  sll.sll_halen = ETH_ALEN;
  if (!sll.sll_ifindex) { perror(argv[1]); return 1; }
  static char line[65536 * 2 + 2];
  static unsigned char frame[65536];
  int sent = 0;
  while (fgets(line, sizeof line, stdin)) {
    size_t n = 0;
    for (char *p = line; p[0] && p[1] && hexval(p[0]) >= 0 && hexval(p[1]) >= 0 && n < sizeof frame; p += 2) {
      frame[n++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
    }
    if (n < 14) continue;
    memcpy(sll.sll_addr, frame, ETH_ALEN);
    if (sendto(fd, frame, n, 0, (struct sockaddr *)&sll, sizeof sll) != (ssize_t)n) { perror("sendto"); return 1; }
    sent++;
  }
  printf("rawsend: sent %d\n", sent);
  return 0;
}
