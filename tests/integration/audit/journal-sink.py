#!/usr/bin/python3
# A stand-in for journald's native socket: receives COUNT datagrams on PATH, decodes the
# native protocol (KEY=value lines, or KEY\n + 64-bit LE length + binary value; large
# messages arrive as a memfd passed with SCM_RIGHTS) and writes one JSON object per message.
import array, json, os, socket, struct, sys

path, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(20)
open(path + ".ready", "w").close()


def decode(data):
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode()
    return fields


with open(out, "w") as f:
    for _ in range(count):
        fds = array.array("i")
        data, anc, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(4))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:4])
        if fds:
            data = os.pread(fds[0], 1 << 24, 0)
        f.write(json.dumps(decode(data)) + "\n")
        f.flush()
