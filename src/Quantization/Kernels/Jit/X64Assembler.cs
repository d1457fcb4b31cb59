using System.Diagnostics;

namespace Quantization.Kernels.Jit;

/// <summary>x86-64 general-purpose registers, numbered as the encoding numbers them.</summary>
internal enum Gpr
{
    Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15,
}

/// <summary>
/// A tiny x86-64 encoder for exactly the instructions the generated GEMM micro-kernels use: 512-bit loads, stores,
/// broadcasts, <c>vpdpbusd</c> and <c>vpxord</c> (EVEX), a prefetch, pointer arithmetic and a counted loop. Operands are register
/// numbers and displacements the library computes; nothing here ever sees user data.
/// </summary>
/// <remarks>
/// EVEX prefix (Intel SDM vol. 2, §2.7): <c>62 P0 P1 P2</c> with
/// P0 = R̄ X̄ B̄ R̄′ 0 0 m m (R̄/R̄′: inverted bits 3/4 of ModRM.reg; B̄: inverted bit 3 of ModRM.rm or the base;
/// X̄: inverted bit 4 of a register rm, or bit 3 of the index; mm: opcode map 0F = 1, 0F38 = 2),
/// P1 = W v̄v̄v̄v̄ 1 p p (v̄: inverted low four bits of the second source; pp: implied prefix 66 = 1, F3 = 2), and
/// P2 = z L′L b V̄′ a a a (L′L = 2 for 512 bits; V̄′: inverted bit 4 of the second source; no masking here).
/// Memory displacements use the EVEX disp8×N compression: a displacement that is a multiple of the operand size N
/// and fits a signed byte after division is stored as one byte.
/// </remarks>
internal sealed class X64Assembler
{
    private const byte Map0F = 1, Map0F38 = 2;
    private const byte Prefix66 = 1, PrefixF3 = 2;

    private readonly List<byte> _code = [];

    /// <summary>The number of bytes emitted so far: the address a backward jump can target.</summary>
    public int Position => _code.Count;

    public byte[] ToArray() => [.. _code];

    /// <summary><c>vpdpbusd zmm(dst), zmm(a), zmm(b)</c>: dst.int32[i] += Σ_j a.u8[4i+j] × b.s8[4i+j].</summary>
    public void Vpdpbusd(int dst, int a, int b) => EvexRegister(Map0F38, Prefix66, 0x50, dst, a, b);

    /// <summary><c>vpaddd zmm(dst), zmm(a), zmm(b)</c>: int32 lanes, wrapping.</summary>
    public void Vpaddd(int dst, int a, int b) => EvexRegister(Map0F, Prefix66, 0xFE, dst, a, b);

    /// <summary><c>vpxord zmm(dst), zmm(a), zmm(b)</c>.</summary>
    public void Vpxord(int dst, int a, int b) => EvexRegister(Map0F, Prefix66, 0xEF, dst, a, b);

    /// <summary><c>vpbroadcastd zmm(dst), dword [base + displacement]</c>.</summary>
    public void VpbroadcastdLoad(int dst, Gpr @base, int displacement) => EvexMemory(Map0F38, Prefix66, 0x58, dst, @base, displacement, operandSize: 4);

    /// <summary><c>vmovdqu32 zmm(dst), zmmword [base + displacement]</c>.</summary>
    public void Vmovdqu32Load(int dst, Gpr @base, int displacement) => EvexMemory(Map0F, PrefixF3, 0x6F, dst, @base, displacement, operandSize: 64);

    /// <summary><c>vmovdqu32 zmmword [base + displacement], zmm(source)</c>.</summary>
    public void Vmovdqu32Store(Gpr @base, int displacement, int source) => EvexMemory(Map0F, PrefixF3, 0x7F, source, @base, displacement, operandSize: 64);

    /// <summary><c>mov reg, immediate</c> (64-bit, the immediate sign-extended).</summary>
    public void MoveImmediate(Gpr reg, int immediate)
    {
        Rex(w: true, reg: 0, rm: (int)reg);
        Emit(0xC7, ModRm(3, 0, (int)reg & 7));
        EmitInt32(immediate);
    }

    /// <summary><c>add reg, immediate</c> (64-bit).</summary>
    public void AddImmediate(Gpr reg, int immediate)
    {
        Rex(w: true, reg: 0, rm: (int)reg);
        if (immediate is >= sbyte.MinValue and <= sbyte.MaxValue)
        {
            Emit(0x83, ModRm(3, 0, (int)reg & 7), (byte)(sbyte)immediate);
        }
        else
        {
            Emit(0x81, ModRm(3, 0, (int)reg & 7));
            EmitInt32(immediate);
        }
    }

    /// <summary><c>dec reg</c> (64-bit), which sets the zero flag for <see cref="JumpIfNotZero"/>.</summary>
    public void Decrement(Gpr reg)
    {
        Rex(w: true, reg: 0, rm: (int)reg);
        Emit(0xFF, ModRm(3, 1, (int)reg & 7));
    }

    /// <summary><c>jnz target</c>, for a target already emitted (a loop head).</summary>
    public void JumpIfNotZero(int target)
    {
        Debug.Assert(target <= Position);
        int short8 = target - (Position + 2);
        if (short8 >= sbyte.MinValue)
        {
            Emit(0x75, (byte)(sbyte)short8);
        }
        else
        {
            Emit(0x0F, 0x85);
            EmitInt32(target - (Position + 4));
        }
    }

    /// <summary><c>prefetcht0 byte [base + displacement]</c>, always with a 32-bit displacement. It never faults, so it may point past a buffer.</summary>
    public void PrefetchT0(Gpr @base, int displacement)
    {
        Debug.Assert(((int)@base & 7) is not 4 and not 5, "The base register needs a form this encoder does not emit.");
        if ((int)@base >= 8)
            Emit(0x41);
        Emit(0x0F, 0x18, ModRm(2, 1, (int)@base & 7));
        EmitInt32(displacement);
    }

    /// <summary><c>vzeroupper</c>: leaves the upper vector state clean for the caller's SSE code.</summary>
    public void Vzeroupper() => Emit(0xC5, 0xF8, 0x77);

    public void Ret() => Emit(0xC3);

    private void EvexRegister(byte map, byte prefix, byte opcode, int reg, int source1, int rm)
    {
        Debug.Assert((uint)reg < 32 && (uint)source1 < 32 && (uint)rm < 32);
        // With a register rm, EVEX.X carries bit 4 of rm.
        EvexPrefix(map, prefix, reg, source1, rmBit3: (rm >> 3) & 1, xBit: (rm >> 4) & 1);
        Emit(opcode, ModRm(3, reg & 7, rm & 7));
    }

    private void EvexMemory(byte map, byte prefix, byte opcode, int reg, Gpr @base, int displacement, int operandSize)
    {
        Debug.Assert((uint)reg < 32);
        // rsp and r12 as a base need a SIB byte, rbp and r13 cannot use mod 00; the kernels use neither.
        Debug.Assert(((int)@base & 7) is not 4 and not 5, "The base register needs a form this encoder does not emit.");
        EvexPrefix(map, prefix, reg, source1: 0, rmBit3: ((int)@base >> 3) & 1, xBit: 0, noSource1: true);
        int b = (int)@base & 7;
        if (displacement == 0)
        {
            Emit(opcode, ModRm(0, reg & 7, b));
        }
        else if (displacement % operandSize == 0 && displacement / operandSize is >= sbyte.MinValue and <= sbyte.MaxValue)
        {
            Emit(opcode, ModRm(1, reg & 7, b), (byte)(sbyte)(displacement / operandSize));
        }
        else
        {
            Emit(opcode, ModRm(2, reg & 7, b));
            EmitInt32(displacement);
        }
    }

    private void EvexPrefix(byte map, byte prefix, int reg, int source1, int rmBit3, int xBit, bool noSource1 = false)
    {
        int vvvv = noSource1 ? 0 : source1;
        byte p0 = (byte)((((reg >> 3) & 1) ^ 1) << 7 | (xBit ^ 1) << 6 | (rmBit3 ^ 1) << 5 | (((reg >> 4) & 1) ^ 1) << 4 | map);
        byte p1 = (byte)((~vvvv & 0xF) << 3 | 1 << 2 | prefix);
        byte p2 = (byte)(2 << 5 | (((vvvv >> 4) & 1) ^ 1) << 3);
        Emit(0x62, p0, p1, p2);
    }

    private void Rex(bool w, int reg, int rm) => Emit((byte)(0x40 | (w ? 8 : 0) | ((reg >> 3) & 1) << 2 | ((rm >> 3) & 1)));

    private static byte ModRm(int mod, int reg, int rm) => (byte)(mod << 6 | reg << 3 | rm);

    private void EmitInt32(int value)
    {
        for (int i = 0; i < 4; i++)
            _code.Add((byte)(value >> (8 * i)));
    }

    private void Emit(params ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
            _code.Add(b);
    }
}
