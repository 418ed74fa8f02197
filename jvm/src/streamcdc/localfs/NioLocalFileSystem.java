package streamcdc.localfs;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;
import org.apache.hadoop.fs.FSLinkResolver;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's local file system ({@code file:}), with permissions set in-process.
 *
 * <p>Without Hadoop's native library, which Spark's distribution does not ship,
 * {@link RawLocalFileSystem} sets the permission of every file, checksum file and folder
 * it creates by starting a {@code chmod} process. A Spark write of 200 small partitions
 * spends most of its time in those forks. This class sets the same bits with Java's NIO
 * instead; everything else (checksums, listing, renames) is Hadoop's own. A sticky bit,
 * which NIO cannot set, still goes to {@code chmod}.
 *
 * <p>The same holds for symbolic links: Hadoop reads a link by starting a {@code readlink}
 * process, and {@code FileContext.rename}, which Delta's log store calls for every commit
 * file, asks for the link status of both names: about 35 processes per Delta batch. The
 * raw layer reads links with NIO instead, with the same answers.
 */
public class NioLocalFileSystem extends LocalFileSystem {
  public NioLocalFileSystem() {
    super(new Raw());
  }

  /** The raw (checksum-free) layer, shared with {@link NioLocalFs}. */
  public static class Raw extends RawLocalFileSystem {
    @Override
    public void setPermission(Path p, FsPermission permission) throws IOException {
      if (permission.getStickyBit()) {
        super.setPermission(p, permission);
        return;
      }
      Files.setPosixFilePermissions(pathToFile(p).toPath(), posix(permission.toShort()));
    }

    /**
     * What Hadoop's own answers without its native library, with {@code readlink} done
     * in-process. Like Hadoop's, it reads the link named by the path's text, so a path
     * with a scheme ({@code file:/...}) is never taken for a link.
     */
    @Override
    public FileStatus getFileLinkStatus(Path f) throws IOException {
      String target = readLink(new File(f.toString()));
      FileStatus status;
      try {
        status = getFileStatus(f);
      } catch (FileNotFoundException e) {
        if (target.isEmpty()) {
          throw e; // nothing there
        }
        status = null; // a dangling link
      }
      if (target.isEmpty()) {
        return status;
      }
      FileStatus link =
          status == null
              ? new FileStatus(0, false, 0, 0, 0, 0, FsPermission.getDefault(), "", "",
                  new Path(target), f)
              : new FileStatus(status.getLen(), false, status.getReplication(),
                  status.getBlockSize(), status.getModificationTime(), status.getAccessTime(),
                  status.getPermission(), status.getOwner(), status.getGroup(),
                  new Path(target), f);
      link.setSymlink(FSLinkResolver.qualifySymlinkTarget(getUri(), f, link.getSymlink()));
      return link;
    }
  }

  /** The text {@code readlink FILE} prints: the link's target, or "" if it is no link. */
  static String readLink(File file) {
    try {
      java.nio.file.Path path = file.toPath();
      return Files.isSymbolicLink(path) ? Files.readSymbolicLink(path).toString() : "";
    } catch (IOException | InvalidPathException | UnsupportedOperationException e) {
      return "";
    }
  }

  private static final PosixFilePermission[] BITS = {
    PosixFilePermission.OTHERS_EXECUTE,
    PosixFilePermission.OTHERS_WRITE,
    PosixFilePermission.OTHERS_READ,
    PosixFilePermission.GROUP_EXECUTE,
    PosixFilePermission.GROUP_WRITE,
    PosixFilePermission.GROUP_READ,
    PosixFilePermission.OWNER_EXECUTE,
    PosixFilePermission.OWNER_WRITE,
    PosixFilePermission.OWNER_READ,
  };

  /** The rwx bits of an octal mode, lowest bit first as in {@code BITS}. */
  static Set<PosixFilePermission> posix(short mode) {
    Set<PosixFilePermission> set = EnumSet.noneOf(PosixFilePermission.class);
    for (int bit = 0; bit < BITS.length; bit++) {
      if ((mode & (1 << bit)) != 0) {
        set.add(BITS[bit]);
      }
    }
    return set;
  }
}
