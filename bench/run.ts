/** `npm run bench`: every benchmark section, with its reference measured in the same run. */
import { runWireBench } from './wire.ts';
import { runCoreBench } from './core.ts';

console.log(`tslvs benchmarks — node ${process.version}, ${process.arch}`);
runWireBench();
runCoreBench();
