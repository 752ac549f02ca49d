"""Draws kernelspec/logo-{32x32,64x64}.png: a tuna (ellipse body, forked tail) on a rounded
square, in pure Python (no imaging library needed). Run from the repository root."""
import math, struct, zlib

def inside(x, y):
    """Colour at (x, y) in the unit square, or None for transparent."""
    # rounded square background
    r = 0.18
    cx, cy = min(max(x, r), 1 - r), min(max(y, r), 1 - r)
    if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
        return None
    bg = (22, 42, 74)
    # body: ellipse
    if ((x - 0.44) / 0.30) ** 2 + ((y - 0.5) / 0.16) ** 2 <= 1:
        if ((x - 0.30) / 0.035) ** 2 + ((y - 0.46) / 0.035) ** 2 <= 1:
            return (22, 42, 74)  # eye
        return (64, 190, 200) if y < 0.53 else (190, 230, 235)
    # forked tail: two triangles
    for (ax, ay), (bx, by), (qx, qy) in [((0.72, 0.5), (0.90, 0.30), (0.86, 0.5)), ((0.72, 0.5), (0.90, 0.70), (0.86, 0.5))]:
        d = (by - ay) * (qx - ax) - (bx - ax) * (qy - ay)
        s = ((by - ay) * (x - ax) - (bx - ax) * (y - ay)) / d
        t = ((qy - ay) * (x - ax) - (qx - ax) * (y - ay)) / -d
        if s >= 0 and t >= 0 and s + t <= 1:
            return (64, 190, 200)
    return bg

def png(size, path, ss=4):
    rows = []
    for j in range(size):
        row = bytearray([0])
        for i in range(size):
            acc = [0, 0, 0, 0]
            for sj in range(ss):
                for si in range(ss):
                    c = inside((i + (si + 0.5) / ss) / size, (j + (sj + 0.5) / ss) / size)
                    if c:
                        acc[0] += c[0]; acc[1] += c[1]; acc[2] += c[2]; acc[3] += 255
            n = ss * ss
            a = acc[3] // n
            cov = acc[3] // 255 or 1
            row += bytes([acc[0] // cov, acc[1] // cov, acc[2] // cov, a])
        rows.append(bytes(row))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)

for s in (32, 64):
    png(s, f"kernelspec/logo-{s}x{s}.png")
