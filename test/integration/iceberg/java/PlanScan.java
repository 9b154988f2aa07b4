// Plans a scan of a table written by floe with Apache Iceberg's own Java library (iceberg-core):
// parses the metadata JSON, the Avro manifest lists and manifests, matches position delete files
// to data files by sequence number, partition and file_path bounds, and prunes with column stats.
// Usage: PlanScan <metadata-location> [<column> <long value>]
// Prints one JSON object per planned data file: {"path", "records", "deletes": [paths]}.
import java.io.File;
import java.util.Map;
import org.apache.iceberg.BaseTable;
import org.apache.iceberg.DeleteFile;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.Files;
import org.apache.iceberg.StaticTableOperations;
import org.apache.iceberg.TableScan;
import org.apache.iceberg.expressions.Expressions;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.io.FileIO;
import org.apache.iceberg.io.InputFile;
import org.apache.iceberg.io.OutputFile;

public class PlanScan {
  static String local(String location) {
    if (location.startsWith("file://")) return location.substring("file://".length());
    if (location.startsWith("file:")) return location.substring("file:".length());
    return location;
  }

  public static class LocalIO implements FileIO {
    @Override public InputFile newInputFile(String path) { return Files.localInput(new File(local(path))); }
    @Override public OutputFile newOutputFile(String path) { return Files.localOutput(new File(local(path))); }
    @Override public void deleteFile(String path) { new File(local(path)).delete(); }
    @Override public void initialize(Map<String, String> properties) {}
  }

  static String q(String s) { return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""; }

  public static void main(String[] args) throws Exception {
    BaseTable table = new BaseTable(new StaticTableOperations(args[0], new LocalIO()), "t");
    TableScan scan = table.newScan();
    if (args.length >= 3) scan = scan.filter(Expressions.equal(args[1], Long.parseLong(args[2])));
    try (CloseableIterable<FileScanTask> tasks = scan.planFiles()) {
      for (FileScanTask t : tasks) {
        StringBuilder sb = new StringBuilder();
        sb.append("{\"path\":").append(q(t.file().path().toString())).append(",\"records\":").append(t.file().recordCount()).append(",\"deletes\":[");
        boolean first = true;
        for (DeleteFile d : t.deletes()) {
          if (!first) sb.append(",");
          sb.append(q(d.path().toString()));
          first = false;
        }
        System.out.println(sb.append("]}"));
      }
    }
    System.out.println("{\"snapshot\":" + table.currentSnapshot().snapshotId() + ",\"schema\":" + q(table.schema().toString().replace("\n", " ")) + "}");
  }
}
