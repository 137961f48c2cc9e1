;; The filter gradient of a 2-D convolution (Conv2DBackpropFilter) in WebAssembly SIMD128, for the
;; wasm backend where the native addon (oneDNN) is not built; kernels/simd/conv-filter-simd.ts
;; prepares its operands and calls it. It works in place on the tfjs-backend-wasm heap, which the
;; module imports: every pointer is a byte offset into it, every tensor float32 and NHWC.
;;
;; For one filter row kh, the KW·Ci numbers x[b, oh·sh + kh, ow·sw + kw, ci] (kw, ci in row-major
;; order) are contiguous in the (zero-padded) input: row r = kw·Ci + ci of the filter-gradient slice
;; dW[kh] [KW·Ci × Co] is Σ over output positions (b, oh, ow) of that row times dY[b, oh, ow, :].
;; Each kh is thus a matrix product with the output positions as its inner dimension. Tiles of 4
;; filter rows × 8 output channels stay in 8 registers while a block of output rows (b, oh) runs
;; through them, then are added into dW; the tile's 4 inputs are one broadcast load each, its dY
;; row two vector loads.
;;
;; Requirements (the caller checks): Co a multiple of 8; the input readable 12 bytes past the last
;; position (the last tile of rows reads up to 3 numbers beyond KW·Ci, whose sums are discarded).
(module
  (import "env" "memory" (memory 1))

  ;; dW [KH × R × Co] (R = KW·Ci) = the filter gradient. x: the input, with `xRow` and `xImg` bytes
  ;; between its rows and images and `xPos` (= sw·Ci·4) between consecutive output columns; dy
  ;; [B × OH × OW × Co]. `block`: output rows (b, oh) per pass over the tiles (sized for the cache).
  (func (export "convFilterGrad")
    (param $x i32) (param $dy i32) (param $dw i32)
    (param $B i32) (param $OH i32) (param $OW i32) (param $Co i32) (param $KH i32) (param $R i32)
    (param $sh i32) (param $xPos i32) (param $xRow i32) (param $xImg i32) (param $block i32)
    (local $n i32) (local $r0 i32) (local $rEnd i32) (local $kh i32) (local $i i32) (local $j i32)
    (local $R4 i32) (local $Co4 i32) (local $dRow i32) (local $row i32) (local $b i32) (local $oh i32)
    (local $ow i32) (local $xa i32) (local $da i32) (local $out i32) (local $left i32) (local $p i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $d0 v128) (local $d1 v128) (local $s v128)
    (local.set $R4 (i32.shl (local.get $R) (i32.const 2)))
    (local.set $Co4 (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $dRow (i32.mul (local.get $OW) (local.get $Co4)))
    (local.set $n (i32.mul (local.get $B) (local.get $OH)))
    ;; dW = 0 (KH·R·Co floats, a multiple of 8).
    (local.set $p (local.get $dw))
    (local.set $out (i32.add (local.get $dw) (i32.mul (i32.mul (local.get $KH) (local.get $R4)) (local.get $Co))))
    (block $zeroed
      (loop $zero
        (br_if $zeroed (i32.ge_u (local.get $p) (local.get $out)))
        (v128.store (local.get $p) (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $zero)))
    (local.set $r0 (i32.const 0))
    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $r0) (local.get $n)))
        (local.set $rEnd (i32.add (local.get $r0) (local.get $block)))
        (if (i32.gt_u (local.get $rEnd) (local.get $n)) (then (local.set $rEnd (local.get $n))))
        (local.set $kh (i32.const 0))
        (block $khDone
          (loop $khs
            (br_if $khDone (i32.ge_u (local.get $kh) (local.get $KH)))
            (local.set $j (i32.const 0))
            (block $jDone
              (loop $js
                (br_if $jDone (i32.ge_u (local.get $j) (local.get $Co4)))
                (local.set $i (i32.const 0))
                (block $iDone
                  (loop $is
                    (br_if $iDone (i32.ge_u (local.get $i) (local.get $R4)))
                    (local.set $a0 (v128.const i32x4 0 0 0 0))
                    (local.set $a1 (local.get $a0)) (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a0))
                    (local.set $a4 (local.get $a0)) (local.set $a5 (local.get $a0)) (local.set $a6 (local.get $a0))
                    (local.set $a7 (local.get $a0))
                    (local.set $row (local.get $r0))
                    (local.set $b (i32.div_u (local.get $r0) (local.get $OH)))
                    (local.set $oh (i32.rem_u (local.get $r0) (local.get $OH)))
                    (block $rowsDone
                      (loop $rows
                        (br_if $rowsDone (i32.ge_u (local.get $row) (local.get $rEnd)))
                        (local.set $xa
                          (i32.add
                            (i32.add (local.get $x) (i32.mul (local.get $b) (local.get $xImg)))
                            (i32.add
                              (i32.mul (i32.add (i32.mul (local.get $oh) (local.get $sh)) (local.get $kh)) (local.get $xRow))
                              (local.get $i))))
                        (local.set $da (i32.add (i32.add (local.get $dy) (i32.mul (local.get $row) (local.get $dRow))) (local.get $j)))
                        (local.set $ow (local.get $OW))
                        (loop $positions
                          (local.set $d0 (v128.load (local.get $da)))
                          (local.set $d1 (v128.load offset=16 (local.get $da)))
                          (local.set $s (v128.load32_splat (local.get $xa)))
                          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (local.get $d0))))
                          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s) (local.get $d1))))
                          (local.set $s (v128.load32_splat offset=4 (local.get $xa)))
                          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (local.get $d0))))
                          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s) (local.get $d1))))
                          (local.set $s (v128.load32_splat offset=8 (local.get $xa)))
                          (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $s) (local.get $d0))))
                          (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $s) (local.get $d1))))
                          (local.set $s (v128.load32_splat offset=12 (local.get $xa)))
                          (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $s) (local.get $d0))))
                          (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $s) (local.get $d1))))
                          (local.set $xa (i32.add (local.get $xa) (local.get $xPos)))
                          (local.set $da (i32.add (local.get $da) (local.get $Co4)))
                          (local.set $ow (i32.sub (local.get $ow) (i32.const 1)))
                          (br_if $positions (local.get $ow)))
                        (local.set $row (i32.add (local.get $row) (i32.const 1)))
                        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
                        (if (i32.eq (local.get $oh) (local.get $OH))
                          (then
                            (local.set $oh (i32.const 0))
                            (local.set $b (i32.add (local.get $b) (i32.const 1)))))
                        (br $rows)))
                    ;; dW[kh, i/4 + t, j/4 ..] += the tile's row t, for the rows below R.
                    (local.set $out
                      (i32.add
                        (i32.add (local.get $dw) (i32.mul (i32.mul (local.get $kh) (local.get $R4)) (local.get $Co)))
                        (i32.add (i32.mul (local.get $i) (local.get $Co)) (local.get $j))))
                    (local.set $left (i32.sub (local.get $R4) (local.get $i)))
                    (v128.store (local.get $out) (f32x4.add (v128.load (local.get $out)) (local.get $a0)))
                    (v128.store offset=16 (local.get $out) (f32x4.add (v128.load offset=16 (local.get $out)) (local.get $a1)))
                    (if (i32.gt_u (local.get $left) (i32.const 4))
                      (then
                        (local.set $out (i32.add (local.get $out) (local.get $Co4)))
                        (v128.store (local.get $out) (f32x4.add (v128.load (local.get $out)) (local.get $a2)))
                        (v128.store offset=16 (local.get $out) (f32x4.add (v128.load offset=16 (local.get $out)) (local.get $a3)))))
                    (if (i32.gt_u (local.get $left) (i32.const 8))
                      (then
                        (local.set $out (i32.add (local.get $out) (local.get $Co4)))
                        (v128.store (local.get $out) (f32x4.add (v128.load (local.get $out)) (local.get $a4)))
                        (v128.store offset=16 (local.get $out) (f32x4.add (v128.load offset=16 (local.get $out)) (local.get $a5)))))
                    (if (i32.gt_u (local.get $left) (i32.const 12))
                      (then
                        (local.set $out (i32.add (local.get $out) (local.get $Co4)))
                        (v128.store (local.get $out) (f32x4.add (v128.load (local.get $out)) (local.get $a6)))
                        (v128.store offset=16 (local.get $out) (f32x4.add (v128.load offset=16 (local.get $out)) (local.get $a7)))))
                    (local.set $i (i32.add (local.get $i) (i32.const 16)))
                    (br $is)))
                (local.set $j (i32.add (local.get $j) (i32.const 32)))
                (br $js)))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $khs)))
        (local.set $r0 (local.get $rEnd))
        (br $blocks))))
)
