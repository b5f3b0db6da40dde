// leakgate inspector: `LeakgateInspector <dump> [--dac <libmscordaccore.so|mscordaccore.dll>] [--heap-graph <file>]`.
// Prints exactly one JSON document on stdout: the managed summary (schema_version 1), or
// {"error": {"kind": "...", "message": "..."}} with a non-zero exit code. The Rust side
// (crates/leakgate-dotnet/src/inspector.rs) owns the contract; keep the two in step.
// With --heap-graph it also writes the heap as a graph (objects, references, roots) to <file>,
// in the binary format described in HeapGraphWriter.cs, during the same heap walk.
using System.Text.Encodings.Web;
using System.Text.Json;
using Leakgate.Inspector;

const int ExitError = 2;

string? dump = null;
string? dac = Environment.GetEnvironmentVariable("LEAKGATE_DAC_PATH");
string? heapGraph = null;
const string Usage = "usage: LeakgateInspector <dump> [--dac <path>] [--heap-graph <file>]";
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--dac" && i + 1 < args.Length)
    {
        dac = args[++i];
    }
    else if (args[i] == "--heap-graph" && i + 1 < args.Length)
    {
        heapGraph = args[++i];
    }
    else if (dump is null && !args[i].StartsWith("--"))
    {
        dump = args[i];
    }
    else
    {
        return Fail(new InspectorException("usage", $"unexpected argument '{args[i]}'; {Usage}"));
    }
}
if (dump is null)
{
    return Fail(new InspectorException("usage", Usage));
}
if (string.IsNullOrEmpty(dac))
{
    dac = null;
}

try
{
    DumpCheck.EnsureComplete(dump);
    // Buffered, so a failure half-way never leaves a partial summary before the error object.
    var buffer = new MemoryStream();
    using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
    {
        Inspection.Run(dump, dac, json, heapGraph);
    }
    buffer.WriteByte((byte)'\n');
    using var stdout = Console.OpenStandardOutput();
    buffer.WriteTo(stdout);
    return 0;
}
catch (InspectorException e)
{
    return Fail(e);
}
catch (Exception e)
{
    // ClrMD reports damaged dumps with many exception types (IOException, InvalidDataException,
    // ClrDiagnosticsException, ...): all of them mean "this dump cannot be read".
    return Fail(new InspectorException("dump_unreadable", $"{e.GetType().Name}: {e.Message}"));
}

static int Fail(InspectorException e)
{
    using var stdout = Console.OpenStandardOutput();
    using (var json = new Utf8JsonWriter(stdout, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
    {
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("kind", e.Kind);
        json.WriteString("message", e.Message);
        if (e.Looked.Count > 0)
        {
            json.WriteStartArray("looked_for");
            foreach (var path in e.Looked)
            {
                json.WriteStringValue(path);
            }
            json.WriteEndArray();
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }
    stdout.WriteByte((byte)'\n');
    return ExitError;
}
