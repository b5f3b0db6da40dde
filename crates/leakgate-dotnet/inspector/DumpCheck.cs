namespace Leakgate.Inspector;

/// <summary>
/// Cheap structural checks before ClrMD: a truncated core still opens, and ClrMD then reports
/// "no runtime" or garbage instead of "this file is cut short". Checking that every segment
/// the headers announce lies inside the file turns that into a clear dump_unreadable error.
/// </summary>
public static class DumpCheck
{
    public static void EnsureComplete(string path)
    {
        FileStream file;
        try
        {
            file = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InspectorException("dump_unreadable", $"cannot open {path}: {e.Message}");
        }
        using (file)
        using (var reader = new BinaryReader(file))
        {
            var length = file.Length;
            if (length < 64)
            {
                throw new InspectorException("dump_unreadable", $"{path} is {length} bytes, too short to be a dump");
            }
            var magic = reader.ReadUInt32();
            if (magic == 0x464C457F)
            {
                CheckElf(path, file, reader, length);
            }
            else if (magic == 0x504D444D)
            {
                CheckMinidump(path, file, reader, length);
            }
            else
            {
                throw new InspectorException("dump_unreadable", $"{path} is neither an ELF core nor a minidump (magic 0x{magic:x8})");
            }
        }
    }

    private static void CheckElf(string path, FileStream file, BinaryReader reader, long length)
    {
        file.Position = 4;
        if (reader.ReadByte() != 2)
        {
            return; // 32-bit cores: leave it to ClrMD.
        }
        file.Position = 0x20;
        var phoff = reader.ReadUInt64();
        var shoff = reader.ReadUInt64();
        file.Position = 0x36;
        var phentsize = reader.ReadUInt16();
        long phnum = reader.ReadUInt16();
        if (phnum == 0xFFFF && shoff != 0 && shoff + 64 <= (ulong)length)
        {
            // PN_XNUM: the real count is sh_info of section 0.
            file.Position = (long)shoff + 0x2C;
            phnum = reader.ReadUInt32();
        }
        if (phoff + (ulong)(phnum * phentsize) > (ulong)length)
        {
            throw Truncated(path, length, phoff + (ulong)(phnum * phentsize));
        }
        ulong needed = 0;
        for (long i = 0; i < phnum; i++)
        {
            file.Position = (long)phoff + i * phentsize + 8;
            var offset = reader.ReadUInt64();
            file.Position = (long)phoff + i * phentsize + 32;
            var fileSize = reader.ReadUInt64();
            needed = Math.Max(needed, offset + fileSize);
        }
        if (needed > (ulong)length)
        {
            throw Truncated(path, length, needed);
        }
    }

    private static void CheckMinidump(string path, FileStream file, BinaryReader reader, long length)
    {
        file.Position = 8;
        var streams = reader.ReadUInt32();
        var directory = reader.ReadUInt32();
        ulong needed = directory + streams * 12UL;
        if (needed > (ulong)length)
        {
            throw Truncated(path, length, needed);
        }
        for (var i = 0; i < streams; i++)
        {
            file.Position = directory + i * 12L + 4;
            var size = reader.ReadUInt32();
            var rva = reader.ReadUInt32();
            needed = Math.Max(needed, (ulong)rva + size);
        }
        if (needed > (ulong)length)
        {
            throw Truncated(path, length, needed);
        }
    }

    private static InspectorException Truncated(string path, long length, ulong needed) =>
        new("dump_unreadable", $"{path} is truncated: {length} bytes on disk, its headers describe {needed} bytes (was the dump still being written, or cut by a disk limit?)");
}
