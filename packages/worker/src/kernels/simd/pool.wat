;; Max pooling over a zero-padded input and its gradient (kernels/max-pool-zero-pad.ts' loops) in
;; WebAssembly SIMD128, for the wasm backend where the native addon (native/pool.h) is not built.
;; In place on the tfjs-backend-wasm heap, which the module imports: pointers are byte offsets into
;; it, tensors NHWC, float32 (the window positions int32). Four channels per vector, the last C mod
;; 4 one at a time. Results are the JS loops' bit for bit: the same comparisons (`v > max`, a pad
;; position's 0 taking part) in the same order, and the gradient's sums in the same order, adding
;; +0 where a window's maximum was elsewhere (which leaves a sum that starts at +0 unchanged).
;; geometry: B, H, W, C, OH, OW, KH, KW, sh, sw, top, left (max-pool-zero-pad.ts' zeroPadPoolGeometry).
(module
  (import "env" "memory" (memory 1))

  ;; y, arg [B × OH × OW × C] = the maximum of each window of x [B × H × W × C] and the position
  ;; kh·KW + kw of its first maximum in row-major order.
  (func (export "maxPoolZeroPad")
    (param $x i32) (param $y i32) (param $arg i32)
    (param $B i32) (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (param $KH i32) (param $KW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $b i32) (local $oh i32) (local $ow i32) (local $kh i32) (local $kw i32) (local $h i32) (local $w i32)
    (local $c i32) (local $C4 i32) (local $Cv i32) (local $o i32) (local $tap i32) (local $src i32) (local $in i32)
    (local $vy v128) (local $va v128) (local $v v128) (local $m v128)
    (local $fy f32) (local $fa i32) (local $fv f32)
    (local.set $C4 (i32.shl (local.get $C) (i32.const 2)))
    (local.set $Cv (i32.and (local.get $C4) (i32.const -16)))
    (local.set $o (i32.const 0))
    (local.set $b (i32.const 0))
    (block $bDone (loop $bs (br_if $bDone (i32.ge_u (local.get $b) (local.get $B)))
    (local.set $oh (i32.const 0))
    (block $ohDone (loop $ohs (br_if $ohDone (i32.ge_u (local.get $oh) (local.get $OH)))
    (local.set $ow (i32.const 0))
    (block $owDone (loop $ows (br_if $owDone (i32.ge_u (local.get $ow) (local.get $OW)))
      (local.set $c (i32.const 0))
      (block $cDone (loop $cs (br_if $cDone (i32.ge_u (local.get $c) (local.get $C4)))
        (local.set $vy (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $va (v128.const i32x4 0 0 0 0))
        (local.set $fy (f32.const -inf))
        (local.set $fa (i32.const 0))
        (local.set $tap (i32.const 0))
        (local.set $kh (i32.const 0))
        (block $khDone (loop $khs (br_if $khDone (i32.ge_u (local.get $kh) (local.get $KH)))
          (local.set $h (i32.add (i32.sub (i32.mul (local.get $oh) (local.get $sh)) (local.get $top)) (local.get $kh)))
          (local.set $kw (i32.const 0))
          (block $kwDone (loop $kws (br_if $kwDone (i32.ge_u (local.get $kw) (local.get $KW)))
            (local.set $w (i32.add (i32.sub (i32.mul (local.get $ow) (local.get $sw)) (local.get $left)) (local.get $kw)))
            ;; Unsigned comparisons also reject negative rows and columns.
            (local.set $in (i32.and (i32.lt_u (local.get $h) (local.get $H)) (i32.lt_u (local.get $w) (local.get $W))))
            (local.set $src
              (i32.add (local.get $x)
                (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $h)) (local.get $W)) (local.get $w)) (local.get $C4))
                  (local.get $c))))
            (if (i32.lt_u (local.get $c) (local.get $Cv))
              (then
                (local.set $v (v128.const i32x4 0 0 0 0))
                (if (local.get $in) (then (local.set $v (v128.load (local.get $src)))))
                (local.set $m (f32x4.gt (local.get $v) (local.get $vy)))
                (local.set $vy (v128.bitselect (local.get $v) (local.get $vy) (local.get $m)))
                (local.set $va (v128.bitselect (i32x4.splat (local.get $tap)) (local.get $va) (local.get $m))))
              (else
                (local.set $fv (f32.const 0))
                (if (local.get $in) (then (local.set $fv (f32.load (local.get $src)))))
                (if (f32.gt (local.get $fv) (local.get $fy))
                  (then (local.set $fy (local.get $fv)) (local.set $fa (local.get $tap))))))
            (local.set $tap (i32.add (local.get $tap) (i32.const 1)))
            (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
            (br $kws)))
          (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
          (br $khs)))
        (if (i32.lt_u (local.get $c) (local.get $Cv))
          (then
            (v128.store (i32.add (local.get $y) (i32.add (local.get $o) (local.get $c))) (local.get $vy))
            (v128.store (i32.add (local.get $arg) (i32.add (local.get $o) (local.get $c))) (local.get $va))
            (local.set $c (i32.add (local.get $c) (i32.const 16))))
          (else
            (f32.store (i32.add (local.get $y) (i32.add (local.get $o) (local.get $c))) (local.get $fy))
            (i32.store (i32.add (local.get $arg) (i32.add (local.get $o) (local.get $c))) (local.get $fa))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))))
        (br $cs)))
      (local.set $o (i32.add (local.get $o) (local.get $C4)))
      (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
      (br $ows)))
    (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
    (br $ohs)))
    (local.set $b (i32.add (local.get $b) (i32.const 1)))
    (br $bs))))

  ;; The first output row or column whose window covers padded position p (window k, stride s).
  (func $first (param $p i32) (param $k i32) (param $s i32) (result i32)
    (if (result i32) (i32.le_s (i32.add (i32.sub (local.get $p) (local.get $k)) (i32.const 1)) (i32.const 0))
      (then (i32.const 0))
      (else (i32.div_u (i32.add (i32.sub (local.get $p) (local.get $k)) (local.get $s)) (local.get $s)))))

  ;; The last one, below `n`.
  (func $last (param $p i32) (param $s i32) (param $n i32) (result i32)
    (local $l i32)
    (local.set $l (i32.div_u (local.get $p) (local.get $s)))
    (if (result i32) (i32.lt_u (local.get $l) (local.get $n))
      (then (local.get $l))
      (else (i32.sub (local.get $n) (i32.const 1)))))

  ;; dx [B × H × W × C]: each input's sum of dy over the windows whose maximum it was (arg), in
  ;; output row-major order.
  (func (export "maxPoolZeroPadGrad")
    (param $dy i32) (param $arg i32) (param $dx i32)
    (param $B i32) (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (param $KH i32) (param $KW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $b i32) (local $h i32) (local $w i32) (local $ph i32) (local $pw i32) (local $oh i32) (local $ow i32)
    (local $oh0 i32) (local $oh1 i32) (local $ow0 i32) (local $ow1 i32) (local $c i32) (local $C4 i32) (local $Cv i32)
    (local $d i32) (local $o i32) (local $tap i32) (local $acc v128) (local $facc f32)
    (local.set $C4 (i32.shl (local.get $C) (i32.const 2)))
    (local.set $Cv (i32.and (local.get $C4) (i32.const -16)))
    (local.set $d (local.get $dx))
    (local.set $b (i32.const 0))
    (block $bDone (loop $bs (br_if $bDone (i32.ge_u (local.get $b) (local.get $B)))
    (local.set $h (i32.const 0))
    (block $hDone (loop $hs (br_if $hDone (i32.ge_u (local.get $h) (local.get $H)))
    (local.set $ph (i32.add (local.get $h) (local.get $top)))
    (local.set $oh0 (call $first (local.get $ph) (local.get $KH) (local.get $sh)))
    (local.set $oh1 (call $last (local.get $ph) (local.get $sh) (local.get $OH)))
    (local.set $w (i32.const 0))
    (block $wDone (loop $ws (br_if $wDone (i32.ge_u (local.get $w) (local.get $W)))
      (local.set $pw (i32.add (local.get $w) (local.get $left)))
      (local.set $ow0 (call $first (local.get $pw) (local.get $KW) (local.get $sw)))
      (local.set $ow1 (call $last (local.get $pw) (local.get $sw) (local.get $OW)))
      (local.set $c (i32.const 0))
      (block $cDone (loop $cs (br_if $cDone (i32.ge_u (local.get $c) (local.get $C4)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $facc (f32.const 0))
        (local.set $oh (local.get $oh0))
        (block $ohDone (loop $ohs (br_if $ohDone (i32.gt_s (local.get $oh) (local.get $oh1)))
          (local.set $ow (local.get $ow0))
          (block $owDone (loop $ows (br_if $owDone (i32.gt_s (local.get $ow) (local.get $ow1)))
            (local.set $tap
              (i32.add
                (i32.mul (i32.sub (local.get $ph) (i32.mul (local.get $oh) (local.get $sh))) (local.get $KW))
                (i32.sub (local.get $pw) (i32.mul (local.get $ow) (local.get $sw)))))
            (local.set $o
              (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $OH)) (local.get $oh)) (local.get $OW)) (local.get $ow)) (local.get $C4))
                (local.get $c)))
            (if (i32.lt_u (local.get $c) (local.get $Cv))
              (then
                (local.set $acc
                  (f32x4.add (local.get $acc)
                    (v128.and
                      (v128.load (i32.add (local.get $dy) (local.get $o)))
                      (i32x4.eq (v128.load (i32.add (local.get $arg) (local.get $o))) (i32x4.splat (local.get $tap)))))))
              (else
                (if (i32.eq (i32.load (i32.add (local.get $arg) (local.get $o))) (local.get $tap))
                  (then (local.set $facc (f32.add (local.get $facc) (f32.load (i32.add (local.get $dy) (local.get $o)))))))))
            (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
            (br $ows)))
          (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
          (br $ohs)))
        (if (i32.lt_u (local.get $c) (local.get $Cv))
          (then
            (v128.store (i32.add (local.get $d) (local.get $c)) (local.get $acc))
            (local.set $c (i32.add (local.get $c) (i32.const 16))))
          (else
            (f32.store (i32.add (local.get $d) (local.get $c)) (local.get $facc))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))))
        (br $cs)))
      (local.set $d (i32.add (local.get $d) (local.get $C4)))
      (local.set $w (i32.add (local.get $w) (i32.const 1)))
      (br $ws)))
    (local.set $h (i32.add (local.get $h) (i32.const 1)))
    (br $hs)))
    (local.set $b (i32.add (local.get $b) (i32.const 1)))
    (br $bs))))
)
