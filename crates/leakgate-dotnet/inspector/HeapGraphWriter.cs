using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Diagnostics.Runtime;

namespace Leakgate.Inspector;

/// <summary>
/// Writes the heap as a graph for leakgate's retention paths (`--heap-graph FILE`): every object
/// with its type, size and references (with the field holding each, where known), and the roots,
/// named as a person would (static fields by declaring type and name, stack roots by thread and
/// method, handles by kind). The Rust side (crates/leakgate-dotnet/src/inspector/graph_file.rs)
/// reads it into a leakgate_heap::HeapGraph; keep the two in step.
/// </summary>
/// <remarks>
/// Format version 1, little-endian. Header: "LGHEAPGR", u32 version, u32 flags (0). Then records,
/// each a u8 tag: 1 type (u32 id, u8 flags: 1 = finalizable, str name); 2 field name (u32 id, str);
/// 3 object (u64 address, u32 type id, u64 size, u32 count, count × (u64 target, u32 field id or
/// 0xFFFFFFFF)); 4 root (u8 kind, u64 target, then per kind: 1 static field: str type, str field;
/// 2 stack: u32 OS thread id (0 unknown), str method ("" unknown); 3 strong handle; 4 pinned handle;
/// 5 finalizer queue; 6 dependent handle; 7 other: str label; 8 held by the runtime: str what, str name
/// ("" unknown); 9 thread static field: str type, str field, u32 OS thread id); 0xFF end (u64 objects, u64 references,
/// u64 roots). str = u32 byte count + UTF-8. A type or field id is defined before its first use.
/// </remarks>
public sealed class HeapGraphWriter : IDisposable
{
    private const uint FormatVersion = 1;
    private const uint NoField = uint.MaxValue;
    private const string DependentHandleField = "(dependent handle)";

    private readonly BinaryWriter _out;
    private readonly IDataReader _memory;
    private readonly int _arrayDataOffset;
    private readonly Dictionary<ulong, uint> _typeIds = new();
    private readonly Dictionary<string, uint> _fieldIds = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, FieldLayout> _layouts = new();
    private readonly Dictionary<ulong, List<ulong>> _dependents;
    private readonly List<(ulong Target, uint Field)> _edges = new();
    private readonly Dictionary<ulong, RuntimeObject> _runtimeKinds = new();
    private readonly List<(ulong Address, RuntimeObject Kind)> _runtimeObjects = new();
    private readonly HashSet<ulong> _pinnedTables = new();
    private byte[] _buffer = new byte[64 * 1024];
    private ulong _objects, _references, _roots;

    public HeapGraphWriter(string path, ClrRuntime runtime)
    {
        try
        {
            _out = new BinaryWriter(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20), Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InspectorException("heap_graph_unwritable", $"cannot write the heap graph to {path}: {e.Message}");
        }
        _memory = runtime.DataTarget.DataReader;
        // An array's elements start after its method table and its length (padded to a pointer).
        _arrayDataOffset = 2 * _memory.PointerSize;
        _out.Write("LGHEAPGR"u8);
        _out.Write(FormatVersion);
        _out.Write(0u);
        _dependents = DependentHandles(runtime);
    }

    /// <summary>Passes the objects through, writing each one (with its references) on the way.</summary>
    public IEnumerable<ClrObject> WriteObjects(IEnumerable<ClrObject> objects)
    {
        foreach (var obj in objects)
        {
            Write(obj);
            yield return obj;
        }
    }

    private void Write(ClrObject obj)
    {
        var type = obj.Type;
        if (type is null || obj.IsFree)
        {
            return;
        }
        var typeId = TypeId(type);
        var size = obj.Size;
        var runtimeKind = RuntimeKind(type);
        if (runtimeKind == RuntimeObject.ObjectArray)
        {
            NotePinnedTable(obj, type);
        }
        else if (runtimeKind != RuntimeObject.None)
        {
            _runtimeObjects.Add((obj.Address, runtimeKind));
        }
        _edges.Clear();
        if (type.ContainsPointers)
        {
            CollectReferences(obj.Address, type, size);
        }
        if (_dependents.TryGetValue(obj.Address, out var dependents))
        {
            var field = FieldId(DependentHandleField);
            foreach (var target in dependents)
            {
                _edges.Add((target, field));
            }
        }
        _out.Write((byte)3);
        _out.Write(obj.Address);
        _out.Write(typeId);
        _out.Write(size);
        _out.Write(_edges.Count);
        foreach (var (target, field) in _edges)
        {
            _out.Write(target);
            _out.Write(field);
        }
        _objects++;
        _references += (ulong)_edges.Count;
    }

    /// <summary>
    /// The GC's own description of where an object holds references (its GCDesc), read from the
    /// object's bytes; the field at each offset comes from a per-type table. ClrMD's
    /// EnumerateReferencesWithFields would resolve the type of every field of every type first,
    /// which costs seconds on a real service.
    /// </summary>
    private void CollectReferences(ulong address, ClrType type, ulong size)
    {
        if (size > int.MaxValue)
        {
            return;
        }
        var length = (int)size;
        if (_buffer.Length < length)
        {
            _buffer = new byte[Math.Max(length, _buffer.Length * 2)];
        }
        if (_memory.Read(address, _buffer.AsSpan(0, length)) < length)
        {
            return; // not in the dump: its references are unknown, the object itself still counts
        }
        var layout = Layout(type);
        foreach (var (target, offset) in type.GCDesc.WalkObject(_buffer, length))
        {
            if (target != 0)
            {
                _edges.Add((target, layout.FieldAt(offset)));
            }
        }
    }

    /// <summary>
    /// Roots: ClrMD's (handles, stacks, finalizer queue), then every static and thread-static
    /// reference field by name (closed generic types' too), then what the runtime itself holds.
    /// </summary>
    public void WriteRoots(ClrRuntime runtime)
    {
        foreach (var root in runtime.Heap.EnumerateRoots())
        {
            var target = root.Object.Address;
            if (target == 0)
            {
                continue; // an interior pointer ClrMD could not map to an object start
            }
            switch (root)
            {
                case ClrStackRoot stack:
                    var frame = stack.StackFrame;
                    RootHeader(2, target);
                    _out.Write(frame?.Thread?.OSThreadId ?? 0u);
                    WriteString(frame?.Method?.Signature ?? frame?.FrameName ?? "");
                    break;
                case ClrHandle handle:
                    WriteHandleRoot(handle, target);
                    break;
                default:
                    WriteRootOfKind(root.RootKind, target);
                    break;
            }
        }
        WriteStaticRoots(runtime);
        WriteInternedStrings(runtime);
        WriteRuntimeRoots(runtime);
    }

    /// <summary>
    /// The runtime keeps statics and interned strings (literals, String.Intern) in buckets of
    /// its pinned handle table: object[]s on the pinned object heap, each held by a strong
    /// handle (which the DAC may not list). Only the runtime puts an object[] there (a program
    /// can pin arrays without references only), so every one is such a bucket.
    /// </summary>
    private void NotePinnedTable(ClrObject obj, ClrType type)
    {
        if (type.Heap.GetSegmentByAddress(obj.Address)?.Kind == GCSegmentKind.Pinned)
        {
            _pinnedTables.Add(obj.Address);
        }
    }

    /// <summary>
    /// A string in a bucket of the runtime's pinned handle table is interned: a literal of the
    /// code or a String.Intern result, which the runtime keeps for the life of the process
    /// ("strong handle → Object[] → String" otherwise, or "no root found"; statics in the
    /// buckets are named by field, as near). Rooted as held by the runtime; its text is never
    /// written (it may be request data).
    /// </summary>
    private void WriteInternedStrings(ClrRuntime runtime)
    {
        foreach (var address in _pinnedTables)
        {
            var bucket = runtime.Heap.GetObject(address);
            if (!bucket.IsArray)
            {
                continue;
            }
            var array = bucket.AsArray();
            for (var i = 0; i < array.Length; i++)
            {
                var element = ReadReference(() => array.GetObjectValue(i));
                if (element != 0 && runtime.Heap.GetObjectType(element)?.IsString == true)
                {
                    RootHeader(8, element);
                    WriteString("interned string");
                    WriteString("");
                }
            }
        }
    }

    private enum RuntimeObject : byte { None, Assembly, Module, Type, Thread, ObjectArray }

    /// <summary>
    /// Whether objects of this type are the managed face of a loader or thread structure, or
    /// (an object[]) may be a bucket of the runtime's pinned handle table. Decided once per type:
    /// the heap walk asks for every object.
    /// </summary>
    private RuntimeObject RuntimeKind(ClrType type)
    {
        if (!_runtimeKinds.TryGetValue(type.MethodTable, out var kind))
        {
            kind = type.Name switch
            {
                "System.Reflection.RuntimeAssembly" => RuntimeObject.Assembly,
                "System.Reflection.RuntimeModule" => RuntimeObject.Module,
                "System.RuntimeType" => RuntimeObject.Type,
                "System.Threading.Thread" => RuntimeObject.Thread,
                "System.Object[]" => RuntimeObject.ObjectArray,
                _ => RuntimeObject.None,
            };
            _runtimeKinds[type.MethodTable] = kind;
        }
        return kind;
    }

    /// <summary>
    /// The runtime's loader, not a GC root, keeps a non-collectible assembly's RuntimeAssembly and
    /// RuntimeModule (in its own handle table: "strong handle → Object[] → RuntimeAssembly") and its
    /// types' RuntimeType objects (on the frozen heap, referenced only from the method table: "no
    /// root found"). Each is matched to its module through the native pointer it wraps and rooted
    /// as held by the runtime, named by its assembly. A collectible assembly has a loader
    /// allocator of its own, whose managed LoaderAllocator object the GC paths already show.
    /// </summary>
    private void WriteRuntimeRoots(ClrRuntime runtime)
    {
        if (_runtimeObjects.Count == 0)
        {
            return;
        }
        WriteThreadRoots(runtime);
        var modules = runtime.EnumerateModules().ToList();
        // The loader allocator most modules share is the runtime's global one, never freed.
        var global = modules.GroupBy(m => m.LoaderAllocator).MaxBy(g => g.Count())?.Key;
        var byAssembly = new Dictionary<ulong, ClrModule>();
        var byModule = new Dictionary<ulong, ClrModule>();
        foreach (var module in modules.Where(m => m.LoaderAllocator == global))
        {
            byAssembly.TryAdd(module.AssemblyAddress, module);
            byModule.TryAdd(module.Address, module);
        }
        var labels = new Dictionary<ulong, string>();
        foreach (var (address, kind) in _runtimeObjects)
        {
            var obj = runtime.Heap.GetObject(address);
            ClrModule? module = null;
            switch (kind)
            {
                case RuntimeObject.Assembly:
                    byAssembly.TryGetValue(ReadPointer(obj, "m_assembly"), out module);
                    break;
                case RuntimeObject.Module:
                    byModule.TryGetValue(ReadPointer(obj, "m_pData"), out module);
                    break;
                case RuntimeObject.Type:
                    var typeModule = ModuleOfType(runtime, ReadPointer(obj, "m_handle"));
                    if (typeModule is not null && byModule.ContainsKey(typeModule.Address))
                    {
                        module = typeModule;
                    }
                    break;
                case RuntimeObject.Thread:
                    continue; // WriteThreadRoots
            }
            if (module is null)
            {
                continue;
            }
            if (!labels.TryGetValue(module.Address, out var name))
            {
                labels[module.Address] = name = AssemblyLabel(runtime, module);
            }
            RootHeader(8, address);
            WriteString(module.IsDynamic ? "non-collectible dynamic assembly" : "non-collectible assembly");
            WriteString(name);
        }
    }

    /// <summary>
    /// A running thread's Thread object is kept by the runtime's thread store (a strong handle it
    /// owns while the thread runs), not by the program: a thread started per request and never
    /// stopped reads "strong handle → Thread". Each is matched to its live thread through the
    /// native pointer it wraps and rooted as held by the runtime, named by the thread's name, else
    /// by the method it runs (its outermost frame above the runtime's own start frames): either
    /// says who started it.
    /// </summary>
    private void WriteThreadRoots(ClrRuntime runtime)
    {
        Dictionary<ulong, ClrThread>? running = null;
        foreach (var (address, kind) in _runtimeObjects)
        {
            if (kind != RuntimeObject.Thread)
            {
                continue;
            }
            running ??= runtime.Threads
                .Where(t => t.IsAlive && t.Address != 0)
                .GroupBy(t => t.Address)
                .ToDictionary(g => g.Key, g => g.First());
            var obj = runtime.Heap.GetObject(address);
            if (!running.TryGetValue(ReadPointer(obj, "_DONT_USE_InternalThread"), out var thread))
            {
                continue; // not started, or already ended: its GC paths say who keeps it
            }
            RootHeader(8, address);
            WriteString("running thread");
            WriteString(ThreadLabel(obj, thread));
        }
    }

    /// <summary>The runtime's frames below a thread's own code, from Thread.Start's callback in.</summary>
    private static readonly HashSet<string> ThreadStartFrames = new()
    {
        "System.Threading.Thread",
        "System.Threading.Thread+StartHelper",
        "System.Threading.ExecutionContext",
    };

    private static string ThreadLabel(ClrObject thread, ClrThread running)
    {
        const int MaxName = 256;
        string name;
        try
        {
            name = thread.ReadStringField("_name", MaxName) ?? "";
            if (name.Length == 0)
            {
                // Innermost first: the last frame of the thread's own code is where it started.
                name = running.EnumerateStackTrace(false, 1024)
                    .Select(f => f.Method)
                    .Where(m => m?.Type?.Name is { } type && !ThreadStartFrames.Contains(type))
                    .LastOrDefault()?.Signature ?? "";
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException)
        {
            name = ""; // its name or stack is not in the dump: the thread stays unnamed
        }
        return name.Length > MaxName ? name[..MaxName] : name;
    }

    /// <summary>The module of the type a method table pointer read from the heap names, if it names one.</summary>
    private static ClrModule? ModuleOfType(ClrRuntime runtime, ulong methodTable)
    {
        if (methodTable == 0)
        {
            return null;
        }
        try
        {
            return runtime.GetTypeByMethodTable(methodTable)?.Module;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException)
        {
            return null; // not a method table in this dump: the object keeps its GC paths
        }
    }

    /// <summary>A pointer-sized field, or 0 when the type has no such field (another runtime version).</summary>
    private ulong ReadPointer(ClrObject obj, string field)
    {
        var f = obj.Type?.GetFieldByName(field);
        if (f is null || f.Offset < 0)
        {
            return 0;
        }
        // A field's offset counts from after the object's method table pointer.
        return _memory.ReadPointer(obj.Address + (ulong)_memory.PointerSize + (ulong)f.Offset);
    }

    /// <summary>
    /// The assembly's simple name for one loaded from a file. ClrMD reads no name for a dynamic
    /// (Reflection.Emit) assembly, so it is named by the namespace of the first type it defines,
    /// which is what shows who generated it; "" when it defines none.
    /// </summary>
    private static string AssemblyLabel(ClrRuntime runtime, ClrModule module)
    {
        const int MaxName = 256;
        string name;
        if (!module.IsDynamic)
        {
            name = Path.GetFileNameWithoutExtension(module.AssemblyName ?? module.Name ?? "");
        }
        else
        {
            string typeName;
            try
            {
                typeName = module.EnumerateTypeDefToMethodTableMap()
                    .Select(t => runtime.GetTypeByMethodTable(t.MethodTable)?.Name)
                    .FirstOrDefault(n => !string.IsNullOrEmpty(n)) ?? "";
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException)
            {
                typeName = ""; // its type map is not in the dump: the assembly stays unnamed
            }
            var outer = typeName.Split('+')[0];
            var dot = outer.LastIndexOf('.');
            name = dot > 0 ? outer[..dot] : outer;
        }
        return name.Length > MaxName ? name[..MaxName] : name;
    }

    private void WriteHandleRoot(ClrHandle handle, ulong target)
    {
        switch (handle.HandleKind)
        {
            case ClrHandleKind.Strong:
                RootHeader(3, target);
                break;
            case ClrHandleKind.Pinned:
            case ClrHandleKind.AsyncPinned:
                RootHeader(4, target);
                break;
            case ClrHandleKind.Dependent:
                RootHeader(6, target);
                break;
            case ClrHandleKind.RefCounted:
                OtherRoot("ref-counted handle", target);
                break;
            case ClrHandleKind.SizedRef:
                OtherRoot("sized-ref handle", target);
                break;
            default:
                OtherRoot($"{handle.HandleKind} handle", target);
                break;
        }
    }

    private void WriteRootOfKind(ClrRootKind kind, ulong target)
    {
        switch (kind)
        {
            case ClrRootKind.FinalizerQueue:
                RootHeader(5, target);
                break;
            case ClrRootKind.StrongHandle:
                RootHeader(3, target);
                break;
            case ClrRootKind.PinnedHandle:
            case ClrRootKind.AsyncPinnedHandle:
                RootHeader(4, target);
                break;
            case ClrRootKind.StaticVar:
                // A bucket of static slots (a pinned object[]); the statics in it are named below.
                OtherRoot("static storage", target);
                break;
            case ClrRootKind.ThreadStaticVar:
                OtherRoot("thread static", target);
                break;
            default:
                OtherRoot(kind.ToString(), target);
                break;
        }
    }

    /// <summary>
    /// On .NET 9+ a static reference lives in a slot of a pinned object[] held by a handle, so the
    /// heap alone says "handle → Object[] → x". Reading each static field names the root as a
    /// person would: static Declaring.Type.field → x (one step shorter, so it wins the search).
    /// Closed generic instantiations are not listed by EnumerateTypesWithStaticFields: they are
    /// found in the loader heaps (GenericStaticTypes).
    /// </summary>
    private void WriteStaticRoots(ClrRuntime runtime)
    {
        var fallbackDomain = runtime.AppDomains.FirstOrDefault() ?? runtime.SystemDomain;
        var threads = runtime.Threads.Where(t => t.IsAlive && t.Address != 0).ToList();
        var named = new HashSet<ulong>();
        foreach (var module in runtime.EnumerateModules())
        {
            var domain = module.AppDomain ?? fallbackDomain;
            if (domain is null)
            {
                continue;
            }
            foreach (var type in module.EnumerateTypesWithStaticFields())
            {
                named.Add(type.MethodTable);
                WriteStaticFields(type, domain);
                WriteThreadStaticFields(type, threads);
            }
        }
        if (fallbackDomain is not null)
        {
            foreach (var type in GenericStaticTypes(runtime, named))
            {
                WriteStaticFields(type, fallbackDomain);
                WriteThreadStaticFields(type, threads);
            }
        }
    }

    private void WriteStaticFields(ClrType type, ClrAppDomain domain)
    {
        foreach (var field in type.StaticFields)
        {
            if (!field.IsObjectReference || field.Name is null)
            {
                continue;
            }
            // A static that cannot be read is left to the storage array's path.
            var target = ReadReference(() => field.ReadObject(domain));
            if (target != 0)
            {
                RootHeader(1, target);
                WriteString(type.Name ?? "?");
                WriteString(field.Name);
            }
        }
    }

    /// <summary>The address a field holds; 0 for null, or when the dump cannot say.</summary>
    private static ulong ReadReference(Func<ClrObject> read)
    {
        try
        {
            return read().Address;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException)
        {
            return 0;
        }
    }

    /// <summary>
    /// A [ThreadStatic] field has a value per thread, held by the thread's own storage (which the
    /// GC scans directly: no handle, so the heap alone says "no root found → Object[] → Object[]
    /// → x"). Each live thread's value is a root named by the field and the thread.
    /// </summary>
    private void WriteThreadStaticFields(ClrType type, List<ClrThread> threads)
    {
        foreach (var field in type.ThreadStaticFields)
        {
            if (!field.IsObjectReference || field.Name is null)
            {
                continue;
            }
            foreach (var thread in threads)
            {
                var target = ReadReference(() => field.ReadObject(thread));
                if (target != 0)
                {
                    RootHeader(9, target);
                    WriteString(type.Name ?? "?");
                    WriteString(field.Name);
                    _out.Write(thread.OSThreadId);
                }
            }
        }
    }

    /// <summary>
    /// The types with statics that no module lists: closed generic instantiations
    /// (PerTypeCache&lt;Order&gt;.Items), which the runtime's debugging interface cannot enumerate
    /// (dotnet/diagnostics#5732). On .NET 9+ every type with statics has a DynamicStaticsInfo in a
    /// loader heap, just before its auxiliary data: three pointers, to its GC statics (a slot in a
    /// pinned object[] on the GC heap; the low bit set while the class is not initialised), to its
    /// other statics, and to its method table. A triple whose first points into the GC heap and
    /// whose last is a method table ClrMD knows, with reference statics, is such a type (one with
    /// thread statics only has no GC statics pointer, and is not found); ClrMD then
    /// reads its statics through the runtime, so a chance match names no wrong root. The
    /// fixture's 8.6 MB of loader heaps take about 0.05 s.
    /// </summary>
    private List<ClrType> GenericStaticTypes(ClrRuntime runtime, HashSet<ulong> named)
    {
        var found = new List<ClrType>();
        if (_memory.PointerSize != 8)
        {
            return found;
        }
        var heap = runtime.Heap;
        // The auxiliary data is in the high-frequency heaps (all of it on .NET 10); the
        // low-frequency ones are a third more to read. ClrMD lists a heap once per domain and
        // module that shares it.
        List<(ulong Start, ulong End)> loaderHeaps;
        try
        {
            loaderHeaps = runtime.EnumerateClrNativeHeaps()
                .Where(h => h.Kind is NativeHeapKind.LowFrequencyHeap or NativeHeapKind.HighFrequencyHeap)
                .Select(h => (h.MemoryRange.Start, h.MemoryRange.End))
                .Where(r => r.End > r.Start)
                .Distinct()
                .ToList();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException)
        {
            return found; // the loader's heaps are not listed: those statics stay unnamed
        }
        var seen = new HashSet<ulong>(named);
        var chunk = new byte[1 << 20];
        foreach (var range in loaderHeaps)
        {
            // Chunks overlap by two words, so a triple across a boundary is seen once whole.
            for (var start = range.Start; start < range.End; start += (ulong)chunk.Length - 16)
            {
                var length = (int)Math.Min((ulong)chunk.Length, range.End - start);
                var read = _memory.Read(start, chunk.AsSpan(0, length));
                var words = MemoryMarshal.Cast<byte, ulong>(chunk.AsSpan(0, read - read % 8));
                for (var i = 0; i + 2 < words.Length; i++)
                {
                    var gcStatics = words[i] & ~1UL;
                    var methodTable = words[i + 2];
                    if (gcStatics == 0 || (gcStatics & 7) != 0 || methodTable == 0 || (methodTable & 7) != 0
                        || seen.Contains(methodTable) || heap.GetSegmentByAddress(gcStatics) is null)
                    {
                        continue;
                    }
                    seen.Add(methodTable);
                    try
                    {
                        var type = heap.GetTypeByMethodTable(methodTable);
                        if (type is not null && (type.StaticFields.Any(f => f.IsObjectReference)
                            || type.ThreadStaticFields.Any(f => f.IsObjectReference)))
                        {
                            found.Add(type);
                        }
                    }
                    catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException)
                    {
                        // not a method table after all
                    }
                }
                if (start + (ulong)length >= range.End)
                {
                    break;
                }
            }
        }
        return found;
    }

    public void Finish()
    {
        _out.Write((byte)0xFF);
        _out.Write(_objects);
        _out.Write(_references);
        _out.Write(_roots);
        _out.Flush();
    }

    public void Dispose() => _out.Dispose();

    public (ulong Objects, ulong References, ulong Roots) Counts => (_objects, _references, _roots);

    private void RootHeader(byte kind, ulong target)
    {
        _out.Write((byte)4);
        _out.Write(kind);
        _out.Write(target);
        _roots++;
    }

    private void OtherRoot(string label, ulong target)
    {
        RootHeader(7, target);
        WriteString(label);
    }

    private uint TypeId(ClrType type)
    {
        if (_typeIds.TryGetValue(type.MethodTable, out var id))
        {
            return id;
        }
        id = (uint)_typeIds.Count;
        _typeIds[type.MethodTable] = id;
        _out.Write((byte)1);
        _out.Write(id);
        _out.Write((byte)(type.IsFinalizable ? 1 : 0));
        WriteString(type.Name ?? $"<unknown type 0x{type.MethodTable:x}>");
        return id;
    }

    private uint FieldId(string name)
    {
        if (_fieldIds.TryGetValue(name, out var id))
        {
            return id;
        }
        id = (uint)_fieldIds.Count;
        _fieldIds[name] = id;
        _out.Write((byte)2);
        _out.Write(id);
        WriteString(name);
        return id;
    }

    private void WriteString(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        _out.Write(bytes.Length);
        _out.Write(bytes);
    }

    private FieldLayout Layout(ClrType type)
    {
        if (!_layouts.TryGetValue(type.MethodTable, out var layout))
        {
            layout = FieldLayout.Of(type, _memory.PointerSize, _arrayDataOffset, FieldId);
            _layouts[type.MethodTable] = layout;
        }
        return layout;
    }

    private static Dictionary<ulong, List<ulong>> DependentHandles(ClrRuntime runtime)
    {
        var dependents = new Dictionary<ulong, List<ulong>>();
        foreach (var handle in runtime.EnumerateHandles())
        {
            if (handle.HandleKind != ClrHandleKind.Dependent || handle.Object.Address == 0 || handle.Dependent.Address == 0)
            {
                continue;
            }
            if (!dependents.TryGetValue(handle.Object.Address, out var list))
            {
                dependents[handle.Object.Address] = list = new List<ulong>();
            }
            list.Add(handle.Dependent.Address);
        }
        return dependents;
    }

    /// <summary>Which field sits at a GCDesc offset (which counts from the object's method table pointer).</summary>
    private sealed class FieldLayout
    {
        private readonly int[] _offsets;
        private readonly uint[] _ids;
        private readonly int _start;
        private readonly int _stride;

        private FieldLayout(int[] offsets, uint[] ids, int start, int stride)
        {
            _offsets = offsets;
            _ids = ids;
            _start = start;
            _stride = stride;
        }

        /// <summary>
        /// An object's fields start after its method table pointer; an array of structs repeats its
        /// element's fields every ComponentSize bytes from the array's data; an array of references
        /// has no field names (null layout, every element unnamed).
        /// </summary>
        public static FieldLayout Of(ClrType type, int pointerSize, int arrayDataOffset, Func<string, uint> fieldId)
        {
            var stride = 0;
            var start = pointerSize;
            var declaring = type;
            if (type.IsArray)
            {
                var component = type.ComponentType;
                if (component is null || !component.IsValueType || type.ComponentSize <= 0 || type.ElementType != ClrElementType.SZArray)
                {
                    return new FieldLayout([], [], 0, 0);
                }
                declaring = component;
                start = arrayDataOffset;
                stride = type.ComponentSize;
            }
            // Offset and name only: a field's Size would resolve its type, the slow part.
            var fields = declaring.Fields
                .Where(f => f.Name is not null && (f.IsObjectReference || f.IsValueType))
                .OrderBy(f => f.Offset)
                .ToArray();
            return new FieldLayout(
                fields.Select(f => f.Offset).ToArray(),
                fields.Select(f => fieldId(f.Name!)).ToArray(),
                start,
                stride);
        }

        public uint FieldAt(int gcOffset)
        {
            if (_offsets.Length == 0)
            {
                return NoField;
            }
            var offset = gcOffset - _start;
            if (_stride > 0)
            {
                offset %= _stride;
            }
            var i = Array.BinarySearch(_offsets, offset);
            if (i < 0)
            {
                i = ~i - 1; // the field that starts before the offset: a struct field holding it
            }
            return i >= 0 ? _ids[i] : NoField;
        }
    }
}
