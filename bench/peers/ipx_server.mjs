// ipx over node:http on 127.0.0.1, for the benchmark (bench/peers/ipx.py copies it next to
// node_modules). Usage: node server.mjs <dir> <port> <workers> <avif-effort>
// workers > 1: node:cluster forks that many servers sharing the port; 1: no fork.
// sharp's libvips operation cache is off (like imgfleet's), so repeated work is redone.
// JPEG is baseline (ipx's own default is progressive) and AVIF is 4:2:0 (sharp's default is
// 4:4:4), like the other servers; everything else is ipx's and sharp's defaults.
import cluster from "node:cluster";
import { createServer } from "node:http";
import { createIPX, createIPXNodeServer, ipxFSStorage } from "ipx";
import sharp from "sharp";

const [dir, port, workers, avifEffort] = process.argv.slice(2);
const count = Number(workers);

if (count > 1 && cluster.isPrimary) {
  for (let i = 0; i < count; i++) cluster.fork();
  cluster.on("exit", (worker, code) => {
    console.error(`worker ${worker.process.pid} exited (${code})`);
    process.exit(1);
  });
} else {
  sharp.cache(false);
  const ipx = createIPX({
    storage: ipxFSStorage({ dir }),
    sharpOptions: {
      jpegProgressive: false,
      heifChromaSubsampling: "4:2:0",
      heifEffort: Number(avifEffort),
    },
  });
  createServer(createIPXNodeServer(ipx)).listen(Number(port), "127.0.0.1");
}
