using System.Text.Json;
using Microsoft.Diagnostics.Runtime;

namespace Leakgate.Inspector;

/// <summary>Opens the runtime in a dump and writes the managed summary (schema_version 1).</summary>
public static class Inspection
{
    private const int SchemaVersion = 1;

    public static void Run(string dumpPath, string? dacPath, Utf8JsonWriter json, string? heapGraphPath = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var sinceProcessStart = DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime;
        var phases = new List<string> { $"startup={(long)sinceProcessStart.TotalMilliseconds}ms" };
        void Phase(string name)
        {
            phases.Add($"{name}={clock.ElapsedMilliseconds}ms");
            clock.Restart();
        }

        // No symbol server: leakgate runs offline in CI, and a network DAC lookup would only add minutes of timeouts.
        var options = new DataTargetOptions { SymbolPaths = [] };
        using var target = DataTarget.LoadDump(dumpPath, options);
        if (target.ClrVersions.Length == 0)
        {
            throw new InspectorException("no_clr", $"the dump {dumpPath} holds no .NET runtime (no coreclr/clr module); was it taken from a .NET process?");
        }
        var clr = target.ClrVersions[0];
        using var runtime = OpenRuntime(clr, dacPath);
        var heap = runtime.Heap;
        if (!heap.CanWalkHeap)
        {
            throw new InspectorException("dump_unreadable", $"the GC heap in {dumpPath} cannot be walked (the dump was taken mid-GC, or it lacks heap memory: take it with --withheap or --full)");
        }

        Phase("open");
        using var graph = heapGraphPath is null ? null : new HeapGraphWriter(heapGraphPath, runtime);
        if (graph is not null)
        {
            Phase("handles");
        }

        json.WriteStartObject();
        json.WriteNumber("schema_version", SchemaVersion);
        json.WriteString("runtime_version", RuntimeVersion(clr));
        WriteFinalization(heap, json);
        Phase("finalization");
        // One walk of the heap for both: the per-type statistics and, when asked, the graph.
        var objects = heap.EnumerateObjects();
        WriteTypes(json, "heap_types", graph?.WriteObjects(objects) ?? objects);
        Phase(graph is null ? "heap" : "heap+graph");
        WriteSegments(heap, json);
        json.WriteEndObject();
        Phase("segments");
        if (graph is not null)
        {
            graph.WriteRoots(runtime);
            graph.Finish();
            Phase("roots");
            var (objectCount, references, roots) = graph.Counts;
            phases.Add($"graph={objectCount}objects/{references}references/{roots}roots");
        }
        // Phase timings on stderr (ignored by leakgate on success): where an inspection's time goes.
        Console.Error.WriteLine($"leakgate-inspector timings: {string.Join(" ", phases)}");
    }

    /// <summary>
    /// The plain lookup first (works on Windows and for dumps with a version resource); then the DAC
    /// next to the runtime module, with the version check off, because a createdump ELF core lacks
    /// the version resource and ClrMD then expects version 0.0.
    /// </summary>
    private static ClrRuntime OpenRuntime(ClrInfo clr, string? dacPath)
    {
        if (dacPath is not null)
        {
            if (!File.Exists(dacPath))
            {
                throw new InspectorException("dac_not_found", $"the DAC given with --dac or LEAKGATE_DAC_PATH does not exist: {dacPath}", [dacPath]);
            }
            return clr.CreateRuntime(dacPath, ignoreMismatch: true);
        }

        Exception? plainFailure;
        try
        {
            return clr.CreateRuntime();
        }
        catch (Exception e)
        {
            plainFailure = e;
        }

        var looked = DacCandidates(clr).ToList();
        foreach (var candidate in looked)
        {
            if (File.Exists(candidate))
            {
                return clr.CreateRuntime(candidate, ignoreMismatch: true);
            }
        }
        throw new InspectorException(
            "dac_not_found",
            $"no DAC for .NET runtime {RuntimeVersion(clr)} (ClrMD: {plainFailure.Message}); looked for {string.Join(", ", looked)}. " +
            "Install the same .NET runtime version on this machine, or pass the DAC file from the machine that took the dump with --dac / LEAKGATE_DAC_PATH.",
            looked);
    }

    private static IEnumerable<string> DacCandidates(ClrInfo clr)
    {
        var dacName = clr.ModuleInfo.FileName.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? "mscordaccore.dll" : "libmscordaccore.so";
        var moduleDir = Path.GetDirectoryName(clr.ModuleInfo.FileName);
        if (!string.IsNullOrEmpty(moduleDir))
        {
            yield return Path.Combine(moduleDir, dacName);
        }
        // The same runtime version installed here under another root (dump taken in a container, read on the host).
        var version = RuntimeVersion(clr);
        var roots = new[] { Environment.GetEnvironmentVariable("DOTNET_ROOT"), Path.GetDirectoryName(Environment.ProcessPath), "/usr/share/dotnet", "/usr/lib/dotnet" };
        foreach (var root in roots.Where(r => !string.IsNullOrEmpty(r)).Distinct())
        {
            var path = Path.Combine(root!, "shared", "Microsoft.NETCore.App", version, dacName);
            if (moduleDir is null || path != Path.Combine(moduleDir, dacName))
            {
                yield return path;
            }
        }
    }

    /// <summary>ClrMD reports 0.0 for createdump cores; the runtime directory name (…/Microsoft.NETCore.App/10.0.12/) says it.</summary>
    private static string RuntimeVersion(ClrInfo clr)
    {
        if (clr.Version.Major != 0)
        {
            return clr.Version.ToString();
        }
        var dir = Path.GetFileName(Path.GetDirectoryName(clr.ModuleInfo.FileName) ?? "");
        return string.IsNullOrEmpty(dir) || !char.IsDigit(dir[0]) ? "unknown" : dir;
    }

    /// <summary>
    /// `!finalizequeue`: objects registered for finalization per generation, the ready (f-reachable)
    /// queue, and per-type statistics over both, as SOS counts them.
    /// </summary>
    private static void WriteFinalization(ClrHeap heap, Utf8JsonWriter json)
    {
        var perGeneration = new SortedDictionary<int, long>();
        var objects = new List<ClrObject>();
        foreach (var obj in heap.EnumerateFinalizableObjects())
        {
            var generation = heap.GetSegmentByAddress(obj.Address)?.GetGeneration(obj.Address) ?? Generation.Unknown;
            perGeneration[(int)generation] = perGeneration.GetValueOrDefault((int)generation) + 1;
            objects.Add(obj);
        }
        long ready = 0;
        foreach (var root in heap.EnumerateFinalizerRoots())
        {
            ready++;
            objects.Add(root.Object);
        }

        json.WriteStartArray("generations");
        foreach (var generation in new[] { Generation.Generation0, Generation.Generation1, Generation.Generation2 })
        {
            perGeneration.TryAdd((int)generation, 0);
        }
        foreach (var (generation, count) in perGeneration)
        {
            json.WriteStartObject();
            json.WriteString("generation", GenerationName((Generation)generation));
            json.WriteNumber("finalizable", count);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteNumber("ready_for_finalization", ready);
        json.WriteNumber("finalizable_total", objects.Count);
        WriteTypes(json, "finalizable_types", objects);
    }

    private static string GenerationName(Generation generation) => generation switch
    {
        Generation.Generation0 => "0",
        Generation.Generation1 => "1",
        Generation.Generation2 => "2",
        Generation.Large => "loh",
        Generation.Pinned => "poh",
        Generation.Frozen => "frozen",
        _ => "unknown",
    };

    /// <summary>Per-type count and total size (`!dumpheap -stat`), ordered by total size ascending like SOS.</summary>
    private static void WriteTypes(Utf8JsonWriter json, string name, IEnumerable<ClrObject> objects)
    {
        var stats = new Dictionary<ulong, (string Name, long Count, ulong Size)>();
        foreach (var obj in objects)
        {
            var type = obj.Type;
            var mt = type?.MethodTable ?? 0;
            var size = type is null ? 0 : obj.Size;
            if (stats.TryGetValue(mt, out var s))
            {
                stats[mt] = (s.Name, s.Count + 1, s.Size + size);
            }
            else
            {
                stats[mt] = (type?.Name ?? (mt == 0 ? "<unreadable object>" : $"<unknown type 0x{mt:x}>"), 1, size);
            }
        }
        json.WriteStartArray(name);
        foreach (var (mt, s) in stats.OrderBy(kv => kv.Value.Size).ThenBy(kv => kv.Value.Name, StringComparer.Ordinal))
        {
            json.WriteStartObject();
            json.WriteNumber("method_table", mt);
            json.WriteString("name", s.Name);
            json.WriteNumber("count", s.Count);
            json.WriteNumber("total_size", s.Size);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    /// <summary>GC segments (regions on .NET 7+): committed memory is what the GC heap occupies in "Unknown".</summary>
    private static void WriteSegments(ClrHeap heap, Utf8JsonWriter json)
    {
        ulong committed = 0, reserved = 0;
        json.WriteStartArray("segments");
        foreach (var segment in heap.Segments.OrderBy(s => s.Start))
        {
            json.WriteStartObject();
            json.WriteString("kind", segment.Kind switch
            {
                GCSegmentKind.Generation0 => "gen0",
                GCSegmentKind.Generation1 => "gen1",
                GCSegmentKind.Generation2 => "gen2",
                GCSegmentKind.Large => "loh",
                GCSegmentKind.Pinned => "poh",
                GCSegmentKind.Frozen => "frozen",
                GCSegmentKind.Ephemeral => "ephemeral",
                _ => segment.Kind.ToString().ToLowerInvariant(),
            });
            json.WriteNumber("start", segment.Start);
            json.WriteNumber("end", segment.End);
            WriteRange(json, "committed", segment.CommittedMemory);
            WriteRange(json, "reserved", segment.ReservedMemory);
            json.WriteEndObject();
            committed += segment.CommittedMemory.Length;
            reserved += segment.ReservedMemory.Length;
        }
        json.WriteEndArray();
        json.WriteNumber("gc_committed", committed);
        json.WriteNumber("gc_reserved", reserved);
    }

    private static void WriteRange(Utf8JsonWriter json, string name, MemoryRange range)
    {
        json.WriteStartObject(name);
        json.WriteNumber("start", range.Start);
        json.WriteNumber("end", range.End);
        json.WriteEndObject();
    }
}
