// glibc's stub resolver, asked the way Postfix asks for DANE: with the DO bit, trusting the AD bit of the
// configured resolvers (RES_TRUSTAD, glibc >= 2.31). Used only by the `trust-ad` DNSSEC mode.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>

// Sends one query for NAME/TYPE (class IN) with EDNS0 (DO bit set, 1232-byte payload) and the AD bit
// requested, to SERVER_IPV4:PORT when SERVER_IPV4 is non-empty, else to the servers of /etc/resolv.conf.
// Returns the response's length in ANSWER (any RCODE), or -1 when no response came (timeout, network),
// -2 when the resolver could not be set up, -3 for a bad server address or name.
static inline int mtasts_dns_query(const char *server_ipv4, unsigned short port, const char *name, int type,
                                   int timeout_seconds, unsigned char *answer, int answer_length) {
    struct __res_state state;
    memset(&state, 0, sizeof state);
    if (res_ninit(&state) != 0) return -2;
    state.options |= RES_TRUSTAD;
    state.options &= ~(RES_DNSRCH | RES_DEFNAMES);
    // Resend after 1 s (then 2 s): a lost UDP datagram costs one second, not half the timeout.
    state.retrans = 1;
    state.retry = timeout_seconds > 3 ? 3 : 2;
    // glibc's res_send turns SERVFAIL/REFUSED/NOTIMP into "no answer" unless pfcode is set (as dig sets it);
    // we need the RCODE: SERVFAIL is how a validating resolver reports DNSSEC-bogus data.
    state.pfcode = 1;
    if (server_ipv4 != NULL && server_ipv4[0] != '\0') {
        struct sockaddr_in address;
        memset(&address, 0, sizeof address);
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        if (inet_pton(AF_INET, server_ipv4, &address.sin_addr) != 1) { res_nclose(&state); return -3; }
        state.nsaddr_list[0] = address;
        state.nscount = 1;
    }
    unsigned char query[512];
    int length = res_nmkquery(&state, QUERY, name, C_IN, type, NULL, 0, NULL, query, sizeof query - 11);
    if (length < 12) { res_nclose(&state); return -3; }
    query[3] |= 0x20;  // AD: ask for the validation result (RFC 6840 §5.7)
    // One OPT record (RFC 6891): root owner, type 41, class = UDP payload 1232, TTL with the DO bit.
    const unsigned char opt[11] = {0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0};
    memcpy(query + length, opt, sizeof opt);
    length += (int)sizeof opt;
    query[11] += 1;  // ARCOUNT (res_nmkquery leaves it 0)
    int n = res_nsend(&state, query, length, answer, answer_length);
    res_nclose(&state);
    return n < 0 ? -1 : n;
}
