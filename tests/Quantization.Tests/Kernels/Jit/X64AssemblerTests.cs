using Quantization.Kernels.Jit;
using Xunit;

namespace Quantization.Tests.Kernels.Jit;

/// <summary>
/// Each instruction the encoder emits, against its byte sequence under the Intel SDM's encoding rules (these
/// sequences agree with the GNU assembler's output for the same instructions).
/// </summary>
public class X64AssemblerTests
{
    [Theory]
    // dst, a, b; every register bank: 0-7, 8-15 (R̄/B̄), 16-31 (R̄′/V̄′/X̄).
    [InlineData(16, 18, 20, "62 a2 6d 40 50 c4")]
    [InlineData(31, 0, 5, "62 62 7d 48 50 fd")]
    [InlineData(3, 17, 30, "62 92 75 40 50 de")]
    [InlineData(0, 0, 0, "62 f2 7d 48 50 c0")]
    [InlineData(9, 10, 11, "62 52 2d 48 50 cb")]
    public void Vpdpbusd(int dst, int a, int b, string expected) => AssertBytes(expected, asm => asm.Vpdpbusd(dst, a, b));

    [Theory]
    [InlineData(16, 16, 18, "62 a1 7d 40 fe c2")]
    [InlineData(5, 17, 31, "62 91 75 40 fe ef")]
    public void Vpaddd(int dst, int a, int b, string expected) => AssertBytes(expected, asm => asm.Vpaddd(dst, a, b));

    [Theory]
    [InlineData((int)Gpr.Rdx, 1000, "48 c7 c2 e8 03 00 00")]
    [InlineData((int)Gpr.R8, 3, "49 c7 c0 03 00 00 00")]
    [InlineData((int)Gpr.Rax, -1, "48 c7 c0 ff ff ff ff")]
    public void Move_immediate(int reg, int immediate, string expected) => AssertBytes(expected, asm => asm.MoveImmediate((Gpr)reg, immediate));

    [Theory]
    [InlineData(16, "62 a1 7d 40 ef c0")]
    [InlineData(5, "62 f1 55 48 ef ed")]
    public void Vpxord_zeroing_idiom(int reg, string expected) => AssertBytes(expected, asm => asm.Vpxord(reg, reg, reg));

    [Theory]
    // disp32, disp8×4 (8 / 4 = 2), no displacement, and an extended base.
    [InlineData(18, (int)Gpr.Rdi, 0x1000, "62 e2 7d 48 58 97 00 10 00 00")]
    [InlineData(19, (int)Gpr.Rdi, 8, "62 e2 7d 48 58 5f 02")]
    [InlineData(19, (int)Gpr.Rdi, 0, "62 e2 7d 48 58 1f")]
    [InlineData(2, (int)Gpr.R9, 12, "62 d2 7d 48 58 51 03")]
    [InlineData(3, (int)Gpr.Rcx, 6, "62 f2 7d 48 58 99 06 00 00 00")]
    public void Vpbroadcastd_from_memory(int dst, int @base, int displacement, string expected) =>
        AssertBytes(expected, asm => asm.VpbroadcastdLoad(dst, (Gpr)@base, displacement));

    [Theory]
    // disp8×64: 0x40 -> 1, 0x1040 -> 0x41; 0x2000 is 128 × 64 and needs disp32.
    [InlineData(20, (int)Gpr.Rdx, 0, "62 e1 7e 48 6f 22")]
    [InlineData(21, (int)Gpr.Rdx, 0x40, "62 e1 7e 48 6f 6a 01")]
    [InlineData(21, (int)Gpr.Rdx, 0x1040, "62 e1 7e 48 6f 6a 41")]
    [InlineData(1, (int)Gpr.Rsi, 0x2000, "62 f1 7e 48 6f 8e 00 20 00 00")]
    public void Vmovdqu32_load(int dst, int @base, int displacement, string expected) =>
        AssertBytes(expected, asm => asm.Vmovdqu32Load(dst, (Gpr)@base, displacement));

    [Theory]
    [InlineData((int)Gpr.R8, 128, 16, "62 c1 7e 48 7f 40 02")]
    [InlineData((int)Gpr.R8, 0, 31, "62 41 7e 48 7f 38")]
    [InlineData((int)Gpr.Rcx, 64, 0, "62 f1 7e 48 7f 41 01")]
    public void Vmovdqu32_store(int @base, int displacement, int source, string expected) =>
        AssertBytes(expected, asm => asm.Vmovdqu32Store((Gpr)@base, displacement, source));

    [Theory]
    [InlineData((int)Gpr.Rdi, 4, "48 83 c7 04")]
    [InlineData((int)Gpr.Rdx, 128, "48 81 c2 80 00 00 00")]
    [InlineData((int)Gpr.Rdx, 0x10000, "48 81 c2 00 00 01 00")]
    [InlineData((int)Gpr.R9, -8, "49 83 c1 f8")]
    public void Add_immediate(int reg, int immediate, string expected) => AssertBytes(expected, asm => asm.AddImmediate((Gpr)reg, immediate));

    [Theory]
    [InlineData((int)Gpr.Rsi, 8192, "0f 18 8e 00 20 00 00")]
    [InlineData((int)Gpr.R10, 4096, "41 0f 18 8a 00 10 00 00")]
    public void Prefetch_t0(int @base, int displacement, string expected) => AssertBytes(expected, asm => asm.PrefetchT0((Gpr)@base, displacement));

    [Theory]
    [InlineData((int)Gpr.Rcx, "48 ff c9")]
    [InlineData((int)Gpr.R8, "49 ff c8")]
    public void Decrement(int reg, string expected) => AssertBytes(expected, asm => asm.Decrement((Gpr)reg));

    [Fact]
    public void Backward_jumps_pick_the_short_or_near_form()
    {
        // A jump to itself: rel8 = -2.
        AssertBytes("75 fe", asm => asm.JumpIfNotZero(asm.Position));

        // 200 bytes of loop body is out of rel8 reach: 0F 85 rel32, relative to the end of the 6-byte jump.
        var asm = new X64Assembler();
        for (int i = 0; i < 50; i++)
            asm.AddImmediate(Gpr.Rdi, 4);
        asm.JumpIfNotZero(0);
        Assert.Equal(Hex("0f 85").Concat(BitConverter.GetBytes(-(200 + 6))), asm.ToArray().Skip(200));
    }

    [Fact]
    public void Vzeroupper_and_ret()
    {
        AssertBytes("c5 f8 77", asm => asm.Vzeroupper());
        AssertBytes("c3", asm => asm.Ret());
    }

    private static void AssertBytes(string expected, Action<X64Assembler> emit)
    {
        var asm = new X64Assembler();
        emit(asm);
        Assert.Equal(Convert.ToHexString(Hex(expected)), Convert.ToHexString(asm.ToArray()));
    }

    private static byte[] Hex(string spaced) => Convert.FromHexString(spaced.Replace(" ", "", StringComparison.Ordinal));
}
