# Sourced by the benchmarks: the rules they restore.

# A restore file with N varied filter rules in INPUT.
gen_rules() {
  awk -v n="$1" 'BEGIN {
    print "*filter"; print ":INPUT ACCEPT [0:0]"; print ":FORWARD ACCEPT [0:0]"; print ":OUTPUT ACCEPT [0:0]";
    for (i = 0; i < n; i++) {
      a = int(i / 65536) % 256; b = int(i / 256) % 256; c = i % 256; p = 1024 + i % 60000;
      k = i % 4;
      if (k == 0) printf "-A INPUT -s 10.%d.%d.%d/32 -j DROP\n", a, b, c;
      else if (k == 1) printf "-A INPUT -p tcp -m tcp --dport %d -j ACCEPT\n", p;
      else if (k == 2) printf "-A INPUT -s 172.%d.%d.0/24 -p udp -m udp --dport %d -j ACCEPT\n", 16 + a % 16, b, p;
      else printf "-A INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport %d -j ACCEPT\n", p;
    }
    print "COMMIT" }'
}
