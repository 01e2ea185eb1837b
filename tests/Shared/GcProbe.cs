using System.Runtime;

namespace Rempart.TestSupport;

/// <summary>Alone in its collection: the promoted-bytes figure must not count other tests' live objects.</summary>
[Xunit.CollectionDefinition(nameof(GcMeasurement), DisableParallelization = true)]
public sealed class GcMeasurement;

/// <summary>
/// What a piece of work leaves alive at the next gen0 collection. MimeKit's messages, parts and contents have
/// finalizers: a parse that is not disposed survives its first collection whole on its way to the finalizer thread,
/// which is what these measurements catch.
/// </summary>
internal static class GcProbe
{
    /// <summary>Bytes the work may allocate with no collection; the tests' work stays well under it.</summary>
    private const long NoGcBudget = 64L * 1024 * 1024;

    /// <summary>Least the control (8 undisposed parses of a <see cref="LargeBody"/>) must promote for the measurement to count.</summary>
    public const long ControlFloor = 256 * 1024;

    /// <summary>
    /// A body big enough that one parse kept alive (its content blocks hold a copy of it) stands far above what the
    /// rest of the test process keeps alive at the same moment: about 64 KiB, so 8 kept parses are over
    /// <see cref="ControlFloor"/>.
    /// </summary>
    public static string LargeBody(string line) => string.Concat(Enumerable.Repeat(line.TrimEnd() + "\r\n", 64 * 1024 / line.Length));

    /// <summary>Bytes the work left alive at the next gen0 collection, measured where no collection ran during the work.</summary>
    public static long PromotedBy(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);

        // Once first: static fields and compiled code live on and are not what is measured.
        work();
        for (var attempt = 0; attempt < 20; attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();

            // No collection during the work, or what it keeps would be promoted before the measuring one.
            if (!GC.TryStartNoGCRegion(NoGcBudget))
            {
                continue;
            }

            var collections = GC.CollectionCount(0);
            try
            {
                work();
            }
            finally
            {
                // The region ends here, whether the work finished or threw; a collection may have ended it already.
                if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
                {
                    GC.EndNoGCRegion();
                }
            }

            if (GC.CollectionCount(0) != collections)
            {
                continue;
            }

            GC.Collect(0, GCCollectionMode.Forced, blocking: true);
            return GC.GetGCMemoryInfo(GCKind.Ephemeral).PromotedBytes;
        }

        throw new InvalidOperationException("a collection ran during the work in each of 20 attempts");
    }

    /// <summary>The control: what <paramref name="count"/> parses of <paramref name="message"/> left to the GC keep alive.</summary>
    public static long PromotedByUndisposedParses(byte[] message, int count) => PromotedBy(() =>
    {
        for (var i = 0; i < count; i++)
        {
            using var stream = new MemoryStream(message, writable: false);
            _ = MimeKit.MimeMessage.Load(stream);
        }
    });
}
