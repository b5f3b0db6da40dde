namespace Leakgate.Inspector;

/// <summary>A failure with a machine-readable kind: the Rust side maps each kind to an error variant.</summary>
/// <remarks>Kinds: usage, no_clr, dac_not_found, dump_unreadable, heap_graph_unwritable.</remarks>
public sealed class InspectorException(string kind, string message, IReadOnlyList<string>? looked = null) : Exception(message)
{
    public string Kind { get; } = kind;

    /// <summary>Files searched for (the DAC), so the user knows what to provide.</summary>
    public IReadOnlyList<string> Looked { get; } = looked ?? [];
}
