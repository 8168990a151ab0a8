// Prints one URL per line, built by imgproxy's official Node client for the cases below.
// Usage: node make_urls.mjs <keyHex> <saltHex> <sourceUrl>
import Imgproxy from "imgproxy";

const [key, salt, source] = process.argv.slice(2);
const make = (encode) =>
  new Imgproxy({ baseUrl: "http://imgfleet.test", key, salt, encode, insecure: false, signatureSize: 32 });

const cases = [
  (b) => b.resize("fill", 300, 200, 0).gravity("noea").dpr(2).format("webp"),
  (b) => b.resize("fit", 150, 150, 0).quality(70).format("png"),
  (b) => b.width(120).background({ r: 255, g: 0, b: 0 }).blur(1).format("jpg"),
  (b) => b.crop(100, 100, { x: 0.3, y: 0.6 }).height(50).sharpen(0.5).format("avif"),
  (b) => b.size(64, 64, 1).gravity({ type: "sowe", xOffset: 5, yOffset: 5 }).cacheBuster("v2"),
  (b) => b.resize("force", 50, 70).maxBytes(200000).format("jpg"),
];
for (const encode of [true, false]) {
  for (const build of cases) {
    console.log(build(make(encode).builder()).generateUrl(source));
  }
}
