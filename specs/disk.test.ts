import { imageStoreSuite } from "./ports/ImageStoreSpec.ts"
import { diskImageStore } from "./support/disk.ts"

// The image store's suite on local disk (the embedded default's store), as memory and
// PostgreSQL run it in specs/memory.test.ts and specs/postgres.test.ts.
imageStoreSuite(diskImageStore)
